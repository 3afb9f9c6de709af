internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct msghdr</c> from &lt;sys/socket.h&gt; (x86_64/aarch64 glibc layout).</summary>
        internal unsafe struct msghdr
        {
            public void* msg_name;
            public uint msg_namelen;
            public iovec* msg_iov;
            public nuint msg_iovlen;
            public void* msg_control;
            public nuint msg_controllen;
            public int msg_flags;
        }

        /// <summary><c>struct mmsghdr</c>: one message of a recvmmsg/sendmmsg batch.</summary>
        internal struct mmsghdr
        {
            public msghdr msg_hdr;
            public uint msg_len;
        }
    }
}
