using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "recvmmsg", SetLastError = true)]
        public static unsafe partial int recvmmsg(int sockfd, mmsghdr* msgvec, uint vlen, int flags, void* timeout);
    }
}
