internal static partial class Interop
{
    internal static partial class Netlink
    {
        public const ushort RTM_NEWNEIGH = 28;
        public const ushort RTM_DELNEIGH = 29;
        public const ushort RTM_GETNEIGH = 30;

        /// <summary>Neighbour attributes (&lt;linux/neighbour.h&gt;): the IP address and the link-layer address.</summary>
        public const ushort NDA_DST = 1;
        public const ushort NDA_LLADDR = 2;

        /// <summary>Neighbour states (NUD_*): confirmed recently, or set by hand and never expiring.</summary>
        public const ushort NUD_REACHABLE = 0x02;
        public const ushort NUD_PERMANENT = 0x80;

        /// <summary><c>struct ndmsg</c>: which family, interface and state a neighbour message is about.</summary>
        internal struct ndmsg
        {
            public byte ndm_family;
            public byte ndm_pad1;
            public ushort ndm_pad2;
            public int ndm_ifindex;
            public ushort ndm_state;
            public byte ndm_flags;
            public byte ndm_type;
        }
    }
}
