internal static partial class Interop
{
    /// <summary>The AF_XDP uAPI of &lt;linux/if_xdp.h&gt;.</summary>
    internal static partial class Xdp
    {
        public const int AF_XDP = 44;
        public const int SOCK_RAW = 3;
        public const int SOL_XDP = 283;

        public const int XDP_MMAP_OFFSETS = 1;
        public const int XDP_RX_RING = 2;
        public const int XDP_TX_RING = 3;
        public const int XDP_UMEM_REG = 4;
        public const int XDP_UMEM_FILL_RING = 5;
        public const int XDP_UMEM_COMPLETION_RING = 6;
        public const int XDP_STATISTICS = 7;
        public const int XDP_OPTIONS = 8;

        /// <summary>In XDP_OPTIONS' flags: the socket is bound in zero-copy mode.</summary>
        public const uint XDP_OPTIONS_ZEROCOPY = 1;

        public const ushort XDP_COPY = 1 << 1;
        public const ushort XDP_ZEROCOPY = 1 << 2;
        public const ushort XDP_USE_NEED_WAKEUP = 1 << 3;

        /// <summary>Set in a ring's flags word when the kernel waits for a syscall to process that ring.</summary>
        public const uint XDP_RING_NEED_WAKEUP = 1;

        public const long XDP_PGOFF_RX_RING = 0;
        public const long XDP_PGOFF_TX_RING = 0x80000000;
        public const long XDP_UMEM_PGOFF_FILL_RING = 0x100000000;
        public const long XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000;
    }
}
