using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>BPF_OBJ_GET_INFO_BY_FD; 0 or a negative errno. The kernel fills at most *info_len bytes.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_obj_get_info_by_fd")]
        public static unsafe partial int bpf_obj_get_info_by_fd(int bpf_fd, void* info, uint* info_len);

        /// <summary>
        /// The head of <c>struct bpf_link_info</c> from &lt;linux/bpf.h&gt;: its type, ids, and the first two words of
        /// its union, which for a tcx link are <c>tcx.ifindex</c> and <c>tcx.attach_type</c> (Linux 6.6; the same
        /// place as <c>xdp.ifindex</c> and <c>netns.attach_type</c> in older headers). The kernel fills no more than
        /// the length it is given, so the rest of the union is left out.
        /// </summary>
        internal struct bpf_link_info
        {
            public uint type;
            public uint id;
            public uint prog_id;
            private uint _union_alignment;
            public uint tcx_ifindex;
            public uint tcx_attach_type;
        }

        /// <summary>
        /// The head of <c>struct bpf_map_info</c> from &lt;linux/bpf.h&gt;: its type and id. The kernel fills no more
        /// than the length it is given, so the rest is left out.
        /// </summary>
        internal struct bpf_map_info
        {
            public uint type;
            public uint id;
        }
    }
}
