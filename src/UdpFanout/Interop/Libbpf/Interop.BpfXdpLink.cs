using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>enum bpf_attach_type of an XDP link (BPF_LINK_CREATE with BPF_XDP, Linux 5.9).</summary>
        public const uint BPF_XDP = 37;

        /// <summary>enum bpf_link_type of an XDP link, as bpf_link_info.type reports it.</summary>
        public const uint BPF_LINK_TYPE_XDP = 6;

        /// <summary>
        /// The head of <c>struct bpf_link_create_opts</c> from &lt;bpf/bpf.h&gt;: libbpf reads no further than sz says, so
        /// the flags (XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE for an XDP link) are all that is passed.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_link_create_opts
        {
            public nuint sz;
            public uint flags;
            private readonly uint _tailPadding;
        }

        /// <summary>BPF_LINK_CREATE with options: a link fd or a negative errno (-EBUSY when the slot is taken).</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link_create")]
        public static unsafe partial int bpf_link_create(int prog_fd, int target_fd, uint attach_type, bpf_link_create_opts* opts);
    }
}
