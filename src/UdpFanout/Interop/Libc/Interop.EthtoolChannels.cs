internal static partial class Interop
{
    internal static partial class Libc
    {
        public const uint ETHTOOL_GCHANNELS = 0x3c;
        public const uint ETHTOOL_SCHANNELS = 0x3d;

        /// <summary><c>struct ethtool_channels</c> from &lt;linux/ethtool.h&gt;.</summary>
        internal struct ethtool_channels
        {
            public uint cmd;
            public uint max_rx;
            public uint max_tx;
            public uint max_other;
            public uint max_combined;
            public uint rx_count;
            public uint tx_count;
            public uint other_count;
            public uint combined_count;
        }
    }
}
