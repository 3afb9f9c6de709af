using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        public const int PROT_READ = 1;
        public const int PROT_WRITE = 2;
        public const int MAP_SHARED = 0x01;
        public const int MAP_PRIVATE = 0x02;
        public const int MAP_ANONYMOUS = 0x20;
        public const int MAP_POPULATE = 0x8000;
        public static readonly nint MAP_FAILED = -1;

        [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
        public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

        [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
        public static partial int munmap(nint addr, nuint length);
    }
}
