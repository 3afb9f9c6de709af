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

        /// <summary>Neighbour states (NUD_*).</summary>
        public const ushort NUD_REACHABLE = 0x02;
        public const ushort NUD_STALE = 0x04;
        public const ushort NUD_DELAY = 0x08;
        public const ushort NUD_PROBE = 0x10;
        public const ushort NUD_PERMANENT = 0x80;

        /// <summary>In RTM_NEWNEIGH: act as if the kernel had used the entry to send (a stale one then gets confirmed).</summary>
        public const byte NTF_USE = 0x01;

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
