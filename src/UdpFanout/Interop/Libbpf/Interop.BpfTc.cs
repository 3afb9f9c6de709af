using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        public const int BPF_TC_INGRESS = 1;
        public const int BPF_TC_EGRESS = 2;
        public const uint BPF_TC_F_REPLACE = 1;

        /// <summary><c>struct bpf_tc_hook</c> from &lt;bpf/libbpf.h&gt;.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_tc_hook
        {
            public nuint sz;
            public int ifindex;
            public int attach_point;
            public uint parent;
            private readonly uint _tailPadding;
        }

        /// <summary><c>struct bpf_tc_opts</c> from &lt;bpf/libbpf.h&gt;.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct bpf_tc_opts
        {
            public nuint sz;
            public int prog_fd;
            public uint flags;
            public uint prog_id;
            public uint handle;
            public uint priority;
            private readonly uint _tailPadding;
        }

        /// <summary>Returns 0 or a negative errno; -EEXIST when the clsact qdisc is already there.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_tc_hook_create")]
        public static unsafe partial int bpf_tc_hook_create(bpf_tc_hook* hook);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_tc_hook_destroy")]
        public static unsafe partial int bpf_tc_hook_destroy(bpf_tc_hook* hook);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_tc_attach")]
        public static unsafe partial int bpf_tc_attach(bpf_tc_hook* hook, bpf_tc_opts* opts);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_tc_detach")]
        public static unsafe partial int bpf_tc_detach(bpf_tc_hook* hook, bpf_tc_opts* opts);

        /// <summary>Fills opts.prog_id of the filter with opts.handle and opts.priority; -ENOENT when none.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_tc_query")]
        public static unsafe partial int bpf_tc_query(bpf_tc_hook* hook, bpf_tc_opts* opts);
    }
}
