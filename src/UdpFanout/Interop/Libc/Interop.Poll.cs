using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        public const short POLLIN = 1;
        public const short POLLOUT = 4;

        /// <summary><c>struct pollfd</c> from &lt;poll.h&gt;.</summary>
        internal struct pollfd
        {
            public int fd;
            public short events;
            public short revents;
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
        public static unsafe partial int poll(pollfd* fds, nuint nfds, int timeout);
    }
}
