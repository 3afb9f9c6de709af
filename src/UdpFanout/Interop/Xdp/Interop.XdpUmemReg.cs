internal static partial class Interop
{
    internal static partial class Xdp
    {
        /// <summary><c>struct xdp_umem_reg</c>: the packet buffer area shared with the kernel.</summary>
        internal struct xdp_umem_reg
        {
            public ulong addr;
            public ulong len;
            public uint chunk_size;
            public uint headroom;
            public uint flags;
            // Padding in the 6.1 uAPI headers; tx_metadata_len since 6.8, where 0 means none, as here.
            private readonly uint _tailPadding;
        }
    }
}
