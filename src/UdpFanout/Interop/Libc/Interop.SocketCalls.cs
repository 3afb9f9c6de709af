using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
        public static partial int socket(int domain, int type, int protocol);

        [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
        public static unsafe partial int setsockopt(int fd, int level, int optname, void* optval, uint optlen);

        [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
        public static unsafe partial int getsockopt(int fd, int level, int optname, void* optval, uint* optlen);

        [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
        public static unsafe partial int bind(int fd, void* addr, uint addrlen);

        [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
        public static unsafe partial int connect(int fd, void* addr, uint addrlen);

        [LibraryImport(Libraries.Libc, EntryPoint = "getsockname", SetLastError = true)]
        public static unsafe partial int getsockname(int fd, void* addr, uint* addrlen);

        [LibraryImport(Libraries.Libc, EntryPoint = "send", SetLastError = true)]
        public static unsafe partial nint send(int fd, void* buf, nuint len, int flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "recvfrom", SetLastError = true)]
        public static unsafe partial nint recvfrom(int fd, void* buf, nuint len, int flags, void* addr, void* addrlen);
    }
}
