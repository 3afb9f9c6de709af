internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>
        /// The "netdev" generic netlink family (&lt;linux/netdev.h&gt;, Linux 6.3), as far as the daemon asks it:
        /// which devices can transmit XDP frames (their xdp-features), and the notifications when that changes.
        /// </summary>
        public const string NETDEV_FAMILY_NAME = "netdev";

        /// <summary>The multicast group of device notifications: added, deleted, changed (xdp-features among them).</summary>
        public const string NETDEV_MCGRP_MGMT = "mgmt";

        public const byte NETDEV_CMD_DEV_GET = 1;
        public const ushort NETDEV_A_DEV_IFINDEX = 1;
        public const ushort NETDEV_A_DEV_XDP_FEATURES = 3;

        /// <summary>enum netdev_xdp_act: the device's ndo_xdp_xmit takes frames redirected to it now.</summary>
        public const ulong NETDEV_XDP_ACT_NDO_XMIT = 1 << 2;
    }
}
