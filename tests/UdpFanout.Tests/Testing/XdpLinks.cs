using System.Text.Json;
using static Interop.Libbpf;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// What sits in an interface's XDP slot, as the kernel reports it: the program and its mode (bpf_xdp_query, in the
/// interface's namespace), and the BPF link that holds it there, by id (links are not per namespace: found by the
/// program they run).
/// </summary>
internal static class XdpLinks
{
    /// <summary>The link, program and mode in <paramref name="iface"/>'s XDP slot; null when nothing is attached there.</summary>
    public static unsafe (uint LinkId, uint ProgramId, bool Native)? Of(NetworkNamespace ns, string iface)
    {
        var (programId, native) = ns.Invoke(() =>
        {
            var slot = new bpf_xdp_query_opts { sz = (nuint)sizeof(bpf_xdp_query_opts) };
            var ifindex = (int)global::Interop.Libc.if_nametoindex(iface);
            Assert.True(ifindex != 0, $"no interface {iface} in {ns.Name}");
            var result = bpf_xdp_query(ifindex, 0, &slot);
            Assert.True(result == 0, $"bpf_xdp_query on {iface}: {result}");
            return (slot.prog_id, slot.drv_prog_id != 0);
        });
        if (programId == 0)
        {
            return null;
        }
        using var links = JsonDocument.Parse(Shell.Run("bpftool -j link show"));
        var link = links.RootElement.EnumerateArray()
            .Where(l => l.GetProperty("type").ValueKind == JsonValueKind.String && l.GetProperty("type").GetString() == "xdp" && l.GetProperty("prog_id").GetUInt32() == programId)
            .Select(l => l.GetProperty("id").GetUInt32())
            .ToArray();
        Assert.True(link.Length == 1, $"{iface} runs XDP program {programId}, held by {link.Length} XDP links rather than one");
        return (link[0], programId, native);
    }
}
