internal static partial class Interop
{
    internal static partial class Xdp
    {
        /// <summary><c>struct xdp_statistics</c> (XDP_STATISTICS).</summary>
        internal struct xdp_statistics
        {
            public ulong rx_dropped;
            public ulong rx_invalid_descs;
            public ulong tx_invalid_descs;
            public ulong rx_ring_full;
            public ulong rx_fill_ring_empty_descs;
            public ulong tx_ring_empty_descs;
        }
    }
}
