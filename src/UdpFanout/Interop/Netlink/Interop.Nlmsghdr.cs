internal static partial class Interop
{
    /// <summary>The rtnetlink uAPI (&lt;linux/netlink.h&gt;, &lt;linux/rtnetlink.h&gt;, &lt;linux/pkt_sched.h&gt;), as far as the daemon speaks it.</summary>
    internal static partial class Netlink
    {
        public const int AF_NETLINK = 16;
        public const int SOCK_RAW = 3;
        public const int SOCK_CLOEXEC = 0x80000;
        public const int NETLINK_ROUTE = 0;

        public const ushort NLM_F_REQUEST = 0x1;
        public const ushort NLM_F_DUMP = 0x300;
        public const ushort NLMSG_ERROR = 2;
        public const ushort NLMSG_DONE = 3;

        /// <summary><c>struct nlmsghdr</c>: every netlink message starts with one, and the next starts 4-byte aligned.</summary>
        internal struct nlmsghdr
        {
            public uint nlmsg_len;
            public ushort nlmsg_type;
            public ushort nlmsg_flags;
            public uint nlmsg_seq;
            public uint nlmsg_pid;
        }
    }
}
