using System.Net.Sockets;
using System.Runtime.InteropServices;
using UdpFanout.Bpf;
using static Interop.Fanout;
using static Interop.Libc;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// Counts the frames an XDP layer sent on that a device then dropped (bpf/tc_fanout_xmit.bpf.c) into the layer's own
/// FANOUT_TC_XDP_TRANSMIT_FAILED: bpf_redirect_map and XDP_TX only queue a frame, and the kernel reports a driver
/// that takes fewer than it was given only in tracepoints (xdp:xdp_devmap_xmit for redirected frames,
/// xdp:xdp_exception and xdp:xdp_bulk_tx for XDP_TX), so without this they would stay counted as forwarded. Attached
/// for as long as the layer runs; the links detach when they close.
/// </summary>
internal sealed class TcXdpTransmitFailures : IDisposable
{
    // Each program with the tracepoint it attaches to, for the log.
    private static readonly (string Program, string Tracepoint)[] Programs =
    [
        (TC_XMIT_PROGRAM, "xdp:xdp_devmap_xmit"),
        (TC_XMIT_PROGRAM_BULK_TX, "xdp:xdp_bulk_tx"),
        (TC_XMIT_PROGRAM_TX_EXCEPTION, "xdp:xdp_exception"),
    ];

    private readonly BpfObject _object;
    private readonly List<BpfLink> _links;

    private TcXdpTransmitFailures(BpfObject obj, List<BpfLink> links)
    {
        _object = obj;
        _links = links;
    }

    /// <summary>
    /// Attaches the counter for the frames that <paramref name="layer"/> redirects from <paramref name="ifindex"/>,
    /// an interface of the calling thread's network namespace, into that layer's devmap and counters.
    /// </summary>
    public static TcXdpTransmitFailures Attach(BpfObject layer, int ifindex, string listener)
    {
        var obj = BpfObject.Open(BpfObjectLocator.Find(TC_XMIT_OBJECT));
        var links = new List<BpfLink>(Programs.Length);
        try
        {
            var watch = new fanout_xmit_watch { netns_cookie = NetnsCookie(), ifindex = (uint)ifindex };
            MemoryMarshal.Write(obj.GlobalData(".rodata"), watch);
            obj.ReuseMap(TC_XMIT_MAP_EGRESS, layer.Map(TC_XDP_MAP_EGRESS).Fd);
            obj.ReuseMap(TC_XMIT_MAP_STATS, layer.Map(TC_XDP_MAP_STATS).Fd);
            obj.Load();
            foreach (var (program, tracepoint) in Programs)
            {
                links.Add(BpfLink.CreateTracing(obj.ProgramFd(program), $"listener '{listener}''s count of XDP transmit failures to the tracepoint {tracepoint}"));
            }
            return new TcXdpTransmitFailures(obj, links);
        }
        catch
        {
            links.ForEach(l => l.Dispose());
            obj.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _links.ForEach(l => l.Dispose());
        _object.Dispose();
    }

    /// <summary>The calling thread's network namespace, as the program reads it from a device (net->net_cookie).</summary>
    private static ulong NetnsCookie()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Span<byte> cookie = stackalloc byte[sizeof(ulong)];
        socket.GetRawSocketOption(SOL_SOCKET, SO_NETNS_COOKIE, cookie);
        return BitConverter.ToUInt64(cookie);
    }
}
