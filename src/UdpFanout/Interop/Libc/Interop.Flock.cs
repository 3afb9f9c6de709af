using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        public const int O_RDONLY = 0;
        public const int O_DIRECTORY = 0x10000;
        public const int O_CLOEXEC = 0x80000;

        public const int LOCK_EX = 2;

        [LibraryImport(Libraries.Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int open(string pathname, int flags);

        /// <summary>An advisory lock on the open file; closing the descriptor releases it.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "flock", SetLastError = true)]
        public static partial int flock(int fd, int operation);
    }
}
