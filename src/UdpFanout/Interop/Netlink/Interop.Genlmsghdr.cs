internal static partial class Interop
{
    /// <summary>
    /// Generic netlink (&lt;linux/genetlink.h&gt;) and the "netdev" family (&lt;linux/netdev.h&gt;, Linux 6.3), as far as
    /// the daemon asks it: which devices can transmit XDP frames (their xdp-features).
    /// </summary>
    internal static partial class Netlink
    {
        public const int NETLINK_GENERIC = 16;

        /// <summary>The controller family, which resolves a family's name to its id.</summary>
        public const ushort GENL_ID_CTRL = 0x10;
        public const byte CTRL_CMD_GETFAMILY = 3;
        public const ushort CTRL_ATTR_FAMILY_ID = 1;
        public const ushort CTRL_ATTR_FAMILY_NAME = 2;

        public const string NETDEV_FAMILY_NAME = "netdev";
        public const byte NETDEV_CMD_DEV_GET = 1;
        public const ushort NETDEV_A_DEV_IFINDEX = 1;
        public const ushort NETDEV_A_DEV_XDP_FEATURES = 3;

        /// <summary>enum netdev_xdp_act: the device's ndo_xdp_xmit takes frames redirected to it now.</summary>
        public const ulong NETDEV_XDP_ACT_NDO_XMIT = 1 << 2;

        /// <summary><c>struct genlmsghdr</c>: follows the nlmsghdr of every generic netlink message.</summary>
        internal struct genlmsghdr
        {
            public byte cmd;
            public byte version;
            public ushort reserved;
        }

        /// <summary><c>struct nlattr</c>: length (header included), type; the payload follows, padded to 4 bytes.</summary>
        internal struct nlattr
        {
            public ushort nla_len;
            public ushort nla_type;
        }
    }
}
