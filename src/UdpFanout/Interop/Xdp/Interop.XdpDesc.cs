internal static partial class Interop
{
    internal static partial class Xdp
    {
        /// <summary><c>struct xdp_desc</c>: one received frame, as an offset into UMEM and a length.</summary>
        internal struct xdp_desc
        {
            public ulong addr;
            public uint len;
            public uint options;
        }
    }
}
