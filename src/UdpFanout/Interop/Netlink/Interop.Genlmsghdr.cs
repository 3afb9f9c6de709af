internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>Generic netlink (&lt;linux/genetlink.h&gt;): families named by string, whose ids the controller knows.</summary>
        public const int NETLINK_GENERIC = 16;

        /// <summary>The controller family, which resolves a family's name to its id and its multicast groups' ids.</summary>
        public const ushort GENL_ID_CTRL = 0x10;
        public const byte CTRL_CMD_GETFAMILY = 3;
        public const ushort CTRL_ATTR_FAMILY_ID = 1;
        public const ushort CTRL_ATTR_FAMILY_NAME = 2;

        /// <summary>A nest of nests, one per multicast group, each with the group's name and id.</summary>
        public const ushort CTRL_ATTR_MCAST_GROUPS = 7;
        public const ushort CTRL_ATTR_MCAST_GRP_NAME = 1;
        public const ushort CTRL_ATTR_MCAST_GRP_ID = 2;

        /// <summary><c>struct genlmsghdr</c>: follows the nlmsghdr of every generic netlink message.</summary>
        internal struct genlmsghdr
        {
            public byte cmd;
            public byte version;
            public ushort reserved;
        }
    }
}
