internal static partial class Interop
{
    internal static partial class Libc
    {
        public const uint ETHTOOL_GDRVINFO = 0x03;

        /// <summary><c>struct ethtool_drvinfo</c> from &lt;linux/ethtool.h&gt;: what <c>ethtool -i</c> shows.</summary>
        internal unsafe struct ethtool_drvinfo
        {
            public uint cmd;
            public fixed byte driver[32];
            public fixed byte version[32];
            public fixed byte fw_version[32];
            public fixed byte bus_info[32];
            public fixed byte erom_version[32];
            public fixed byte reserved2[12];
            public uint n_priv_flags;
            public uint n_stats;
            public uint testinfo_len;
            public uint eedump_len;
            public uint regdump_len;
        }
    }
}
