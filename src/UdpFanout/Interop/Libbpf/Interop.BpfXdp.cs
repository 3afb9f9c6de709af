using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>&lt;linux/if_link.h&gt;'s XDP attach modes, as an XDP link's flags: generic (skb) or native (driver).</summary>
        public const uint XDP_FLAGS_SKB_MODE = 1 << 1;
        public const uint XDP_FLAGS_DRV_MODE = 1 << 2;

        /// <summary>
        /// <c>struct bpf_xdp_query_opts</c> from &lt;bpf/libbpf.h&gt;: the program attached in each mode of an interface's
        /// XDP slot (0 for none). A BPF link's info names its program and interface but not its mode; which of these
        /// ids is the link's program says it.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_xdp_query_opts
        {
            public nuint sz;
            public uint prog_id;
            public uint drv_prog_id;
            public uint hw_prog_id;
            public uint skb_prog_id;
            public byte attach_mode;
            private readonly byte _pad1;
            private readonly ushort _pad2;
            private readonly uint _tailPadding;
        }

        /// <summary>Asks the kernel (rtnetlink, in the calling thread's network namespace) what the XDP slot of an interface holds; 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_xdp_query")]
        public static unsafe partial int bpf_xdp_query(int ifindex, int flags, bpf_xdp_query_opts* opts);
    }
}
