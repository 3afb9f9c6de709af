internal static partial class Interop
{
    /// <summary>
    /// The netlink uAPI as far as the daemon speaks it, one file per struct with the constants that go with it:
    /// &lt;linux/netlink.h&gt; (this file, nlattr, sockaddr_nl), &lt;linux/rtnetlink.h&gt; (rtmsg, ndmsg with
    /// &lt;linux/neighbour.h&gt;'s attributes, tcmsg with &lt;linux/pkt_sched.h&gt;'s handles; its rtattr is nlattr),
    /// &lt;linux/genetlink.h&gt; (genlmsghdr) and &lt;linux/netdev.h&gt;. <see cref="NetlinkSocket"/> sends requests and
    /// reads every reply and notification, <see cref="NetlinkRequest"/> builds a request and
    /// <see cref="NetlinkAttributes"/> reads the attributes of a message.
    /// </summary>
    internal static partial class Netlink
    {
        public const int AF_NETLINK = 16;
        public const int SOCK_RAW = 3;
        public const int SOCK_CLOEXEC = 0x80000;
        public const int NETLINK_ROUTE = 0;

        /// <summary>setsockopt level and option that join a multicast group by number (those past 32 too).</summary>
        public const int SOL_NETLINK = 270;
        public const int NETLINK_ADD_MEMBERSHIP = 1;

        public const ushort NLM_F_REQUEST = 0x1;
        public const ushort NLM_F_MULTI = 0x2;
        public const ushort NLM_F_ACK = 0x4;
        public const ushort NLM_F_DUMP = 0x300;
        public const ushort NLMSG_NOOP = 1;
        public const ushort NLMSG_ERROR = 2;
        public const ushort NLMSG_DONE = 3;

        /// <summary>NLMSG_ALIGN: messages, and the attributes inside them, start 4-byte aligned.</summary>
        public static int NLMSG_ALIGN(int length) => (length + 3) & ~3;

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
