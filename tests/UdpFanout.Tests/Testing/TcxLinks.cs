using System.Runtime.InteropServices;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// The programs attached through tcx links to an interface's ingress, as the kernel reports them (BPF_PROG_QUERY).
/// Debian 12's bpftool predates tcx and does not list them, and tc filter show never does.
/// </summary>
internal static partial class TcxLinks
{
    private const uint BpfTcxIngress = 46;

    /// <summary>The program ids on <paramref name="iface"/>'s tcx ingress, in the calling thread's network namespace.</summary>
    public static unsafe uint[] ProgramIds(string iface)
    {
        var ifindex = if_nametoindex(iface);
        Assert.True(ifindex != 0, $"no interface {iface} here");
        var ids = new uint[64];
        var count = (uint)ids.Length;
        uint attachFlags;
        fixed (uint* idsPointer = ids)
        {
            var result = bpf_prog_query((int)ifindex, BpfTcxIngress, 0, &attachFlags, idsPointer, &count);
            Assert.True(result == 0, $"BPF_PROG_QUERY for tcx ingress on {iface}: {result}");
        }
        return ids[..(int)count];
    }

    [LibraryImport("libbpf.so.1")]
    private static unsafe partial int bpf_prog_query(int target_fd, uint type, uint query_flags, uint* attach_flags, uint* prog_ids, uint* prog_cnt);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint if_nametoindex(string name);
}
