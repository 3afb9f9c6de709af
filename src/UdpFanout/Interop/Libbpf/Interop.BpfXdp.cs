internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>&lt;linux/if_link.h&gt;'s XDP attach modes, as an XDP link's flags: generic (skb) or native (driver).</summary>
        public const uint XDP_FLAGS_SKB_MODE = 1 << 1;
        public const uint XDP_FLAGS_DRV_MODE = 1 << 2;
    }
}
