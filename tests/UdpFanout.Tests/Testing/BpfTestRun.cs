using System.Runtime.InteropServices;
using static Interop.Libbpf;

namespace UdpFanout.Tests.Testing;

/// <summary>Runs a loaded BPF program on one frame through BPF_PROG_TEST_RUN and returns its verdict and output.</summary>
internal static unsafe class BpfTestRun
{
    public static (uint Verdict, byte[] Output) Run(int programFd, byte[] frame, byte[]? context = null)
    {
        var output = new byte[frame.Length + 256];
        fixed (byte* input = frame)
        fixed (byte* output_ = output)
        fixed (byte* ctx = context)
        {
            var opts = new bpf_test_run_opts
            {
                sz = (nuint)sizeof(bpf_test_run_opts),
                data_in = input,
                data_size_in = (uint)frame.Length,
                data_out = output_,
                data_size_out = (uint)output.Length,
                ctx_in = ctx,
                ctx_size_in = (uint)(context?.Length ?? 0),
                repeat = 1,
            };
            var rc = bpf_prog_test_run_opts(programFd, &opts);
            Assert.True(rc == 0, $"bpf_prog_test_run_opts failed: errno {Marshal.GetLastPInvokeError()}");
            return (opts.retval, output[..(int)opts.data_size_out]);
        }
    }
}
