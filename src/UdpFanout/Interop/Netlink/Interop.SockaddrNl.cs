internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>Multicast groups (RTMGRP_*) a socket joins at bind to hear of neighbour, route and address changes.</summary>
        public const uint RTMGRP_NEIGH = 0x4;
        public const uint RTMGRP_IPV4_ROUTE = 0x40;
        public const uint RTMGRP_IPV6_IFADDR = 0x100;
        public const uint RTMGRP_IPV6_ROUTE = 0x400;

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
