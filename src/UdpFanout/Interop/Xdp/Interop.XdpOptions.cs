internal static partial class Interop
{
    internal static partial class Xdp
    {
        /// <summary><c>struct xdp_options</c> (XDP_OPTIONS): how a bound socket runs.</summary>
        internal struct xdp_options
        {
            public uint flags;
        }
    }
}
