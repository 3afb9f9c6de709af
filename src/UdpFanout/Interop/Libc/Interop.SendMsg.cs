using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
        public static unsafe partial nint sendmsg(int fd, msghdr* msg, int flags);
    }
}
