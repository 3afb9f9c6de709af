internal static partial class Interop
{
    internal static partial class Netlink
    {
        public const ushort RTM_NEWTFILTER = 44;
        public const ushort RTM_GETTFILTER = 46;

        /// <summary>The clsact qdisc's ingress and egress hooks as a filter's parent: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_*).</summary>
        public const uint TC_H_CLSACT_INGRESS = 0xFFFFFFF2;
        public const uint TC_H_CLSACT_EGRESS = 0xFFFFFFF3;

        /// <summary><c>struct tcmsg</c>: which device, parent, handle and priority a traffic-control message is about.</summary>
        internal struct tcmsg
        {
            public byte tcm_family;
            public byte tcm__pad1;
            public ushort tcm__pad2;
            public int tcm_ifindex;
            public uint tcm_handle;
            public uint tcm_parent;
            public uint tcm_info;
        }
    }
}
