using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "sendmmsg", SetLastError = true)]
        public static unsafe partial int sendmmsg(int sockfd, mmsghdr* msgvec, uint vlen, int flags);
    }
}
