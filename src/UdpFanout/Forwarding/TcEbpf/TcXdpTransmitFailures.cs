using System.Net.Sockets;
using System.Runtime.InteropServices;
using UdpFanout.Bpf;
using static Interop.Fanout;
using static Interop.Libc;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// Counts the frames an XDP layer sent on that its egress then dropped (bpf/tc_fanout_xmit.bpf.c at the tracepoint
/// xdp:xdp_devmap_xmit) into the layer's own FANOUT_TC_XDP_TRANSMIT_FAILED: bpf_redirect_map only queues a frame,
/// and the kernel reports a driver that takes fewer than it was given nowhere else, so without this they would stay
/// counted as forwarded. Attached for as long as the layer runs; the link detaches when it closes.
/// </summary>
internal sealed class TcXdpTransmitFailures : IDisposable
{
    private readonly BpfObject _object;
    private readonly BpfLink _link;

    private TcXdpTransmitFailures(BpfObject obj, BpfLink link)
    {
        _object = obj;
        _link = link;
    }

    /// <summary>
    /// Attaches the counter for the frames that <paramref name="layer"/> redirects from <paramref name="ifindex"/>,
    /// an interface of the calling thread's network namespace, into that layer's devmap and counters.
    /// </summary>
    public static TcXdpTransmitFailures Attach(BpfObject layer, int ifindex, string listener)
    {
        var obj = BpfObject.Open(BpfObjectLocator.Find(TC_XMIT_OBJECT));
        try
        {
            var watch = new fanout_xmit_watch { netns_cookie = NetnsCookie(), ifindex = (uint)ifindex };
            MemoryMarshal.Write(obj.GlobalData(".rodata"), watch);
            obj.ReuseMap(TC_XMIT_MAP_EGRESS, layer.Map(TC_XDP_MAP_EGRESS).Fd);
            obj.ReuseMap(TC_XMIT_MAP_STATS, layer.Map(TC_XDP_MAP_STATS).Fd);
            obj.Load();
            return new TcXdpTransmitFailures(obj, BpfLink.CreateTracing(obj.ProgramFd(TC_XMIT_PROGRAM), $"listener '{listener}''s count of XDP transmit failures to the tracepoint xdp:xdp_devmap_xmit"));
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _link.Dispose();
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
