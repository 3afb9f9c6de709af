internal static partial class Interop
{
    internal static partial class Xdp
    {
        /// <summary><c>struct xdp_ring_offset</c>: where a ring's indices, flags and descriptors sit in its mapping.</summary>
        internal struct xdp_ring_offset
        {
            public ulong producer;
            public ulong consumer;
            public ulong desc;
            public ulong flags;
        }

        /// <summary><c>struct xdp_mmap_offsets</c> (XDP_MMAP_OFFSETS).</summary>
        internal struct xdp_mmap_offsets
        {
            public xdp_ring_offset rx;
            public xdp_ring_offset tx;
            public xdp_ring_offset fr;
            public xdp_ring_offset cr;
        }
    }
}
