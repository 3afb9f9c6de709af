internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>Multicast groups (RTMGRP_*) a socket joins at bind to hear of neighbour, route and address changes.</summary>
        public const uint RTMGRP_NEIGH = 0x4;
        public const uint RTMGRP_IPV4_ROUTE = 0x40;
        public const uint RTMGRP_IPV6_IFADDR = 0x100;
        public const uint RTMGRP_IPV6_ROUTE = 0x400;
        public const uint RTMGRP_LINK = 0x1;
        public const uint RTMGRP_IPV4_RULE = 0x80;

        /// <summary>Groups by number (RTNLGRP_*) that have no RTMGRP_ bit, joined with NETLINK_ADD_MEMBERSHIP.</summary>
        public const uint RTNLGRP_IPV6_RULE = 19;
        public const uint RTNLGRP_IPV4_NETCONF = 24;
        public const uint RTNLGRP_IPV6_NETCONF = 25;

        /// <summary>Link and per-device setting (forwarding) notifications, followed by type only: their bodies are not read.</summary>
        public const ushort RTM_NEWLINK = 16;
        public const ushort RTM_DELLINK = 17;
        public const ushort RTM_NEWNETCONF = 80;
        public const ushort RTM_DELNETCONF = 81;

        /// <summary><c>struct sockaddr_nl</c>: binds a netlink socket, with the groups whose notifications it receives.</summary>
        internal struct sockaddr_nl
        {
            public ushort nl_family;
            public ushort nl_pad;
            public uint nl_pid;
            public uint nl_groups;
        }
    }
}
