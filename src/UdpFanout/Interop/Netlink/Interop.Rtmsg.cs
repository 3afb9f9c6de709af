internal static partial class Interop
{
    internal static partial class Netlink
    {
        public const ushort RTM_NEWROUTE = 24;
        public const ushort RTM_DELROUTE = 25;
        public const ushort RTM_GETROUTE = 26;

        /// <summary>Route attributes (&lt;linux/rtnetlink.h&gt;): destination, output interface, gateway.</summary>
        public const ushort RTA_DST = 1;
        public const ushort RTA_OIF = 4;
        public const ushort RTA_GATEWAY = 5;
        /// <summary>Route attributes that make a route's answer depend on more than the destination, and its full table id.</summary>
        public const ushort RTA_MULTIPATH = 9;
        public const ushort RTA_TABLE = 15;
        public const ushort RTA_NH_ID = 30;

        /// <summary>The tables the default policy rules look up (enum rt_class_t).</summary>
        public const uint RT_TABLE_DEFAULT = 253;
        public const uint RT_TABLE_MAIN = 254;
        public const uint RT_TABLE_LOCAL = 255;

        /// <summary>A route to a gateway or a directly connected host (not local, broadcast, unreachable, ...).</summary>
        public const byte RTN_UNICAST = 1;

        /// <summary><c>struct rtmsg</c>: the fixed part of a route message, and of the RTM_GETROUTE lookup request.</summary>
        internal struct rtmsg
        {
            public byte rtm_family;
            public byte rtm_dst_len;
            public byte rtm_src_len;
            public byte rtm_tos;
            public byte rtm_table;
            public byte rtm_protocol;
            public byte rtm_scope;
            public byte rtm_type;
            public uint rtm_flags;
        }
    }
}
