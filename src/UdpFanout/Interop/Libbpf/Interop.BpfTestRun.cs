using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary><c>struct bpf_test_run_opts</c> from &lt;bpf/bpf.h&gt;.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct bpf_test_run_opts
        {
            public nuint sz;
            public void* data_in;
            public void* data_out;
            public uint data_size_in;
            public uint data_size_out;
            public void* ctx_in;
            public void* ctx_out;
            public uint ctx_size_in;
            public uint ctx_size_out;
            public uint retval;
            public int repeat;
            public uint duration;
            public uint flags;
            public uint cpu;
            public uint batch_size;
        }

        /// <summary>Runs a loaded program on a packet without attaching it (BPF_PROG_TEST_RUN). Returns 0 or -1 with errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_prog_test_run_opts", SetLastError = true)]
        public static unsafe partial int bpf_prog_test_run_opts(int prog_fd, bpf_test_run_opts* opts);
    }
}
