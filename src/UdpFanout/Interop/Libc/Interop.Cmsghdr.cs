internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct cmsghdr</c> from &lt;sys/socket.h&gt;: the header of one control message; its data follows, aligned to 8 bytes.</summary>
        internal struct cmsghdr
        {
            public nuint cmsg_len;
            public int cmsg_level;
            public int cmsg_type;
        }
    }
}
