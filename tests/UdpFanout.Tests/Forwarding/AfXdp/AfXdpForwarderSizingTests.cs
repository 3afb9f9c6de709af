using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>
/// <see cref="AfXdpForwarder"/> sizes its XSKMAP and UMEM frames from the interface it attaches to: each test
/// builds a testbed whose proxy interface has the queue count or MTU in question and sends real packets.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class AfXdpForwarderSizingTests
{
    private const int ListenPort = 5514;
    private const int ReceiverPort = 6000;

    [Fact]
    public async Task Start_66RxQueues_EveryQueueGetsASocketAndQueuesAbove64Forward()
    {
        using var bed = NetnsTestbed.Create("ufq", "10.246", downstreams: 1, proxyRxQueues: 66);
        using var receiver = bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, ReceiverPort));
        await using var forwarder = Start(bed);
        // veth receives on the queue its peer transmitted on, which the flow hash of each source port picks:
        // 512 source ports all miss queues 64 and 65 with a chance of (64/66)^512, about 1e-7.
        var clients = Enumerable.Range(0, 512).Select(_ => Client(bed)).ToArray();
        var target = new IPEndPoint(bed.ProxyAddress, ListenPort);
        var seq = 0L;
        foreach (var client in clients)
        {
            for (var i = 0; i < 4; i++)
            {
                client.SendTo(NumberedPayload.Create(seq++, 64), target);
            }
        }

        await Eventually.TrueAsync(() => receiver.Count >= seq, $"{seq} datagrams at the receiver");
        Assert.Equal(Enumerable.Range(0, (int)seq).Select(i => (long)i), receiver.Sequences.Order());
        var perQueue = forwarder.ReadStats().ModeCounters.Where(c => c.Name == "afxdp_rx_frames_total")
            .ToDictionary(c => int.Parse(c.Labels!.Single(l => l.Key == "queue").Value), c => c.Value);
        Assert.Equal(Enumerable.Range(0, 66), perQueue.Keys.Order());
        Assert.Equal(seq, perQueue.Values.Sum());
        Assert.True(perQueue[64] + perQueue[65] > 0, $"queues 64 and 65 carried nothing: {string.Join(",", perQueue.OrderBy(q => q.Key).Select(q => q.Value))}");
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task Forward_Mtu3498_PayloadsUpTo3470BytesArriveByteExactThroughTheRxRing()
    {
        using var bed = NetnsTestbed.Create("ufm", "10.247", downstreams: 1, mtu: 3498);
        using var receiver = bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, ReceiverPort));
        await using var forwarder = Start(bed);
        using var client = Client(bed);
        var target = new IPEndPoint(bed.ProxyAddress, ListenPort);
        // 3,470 is the largest payload of an unfragmented IPv4 UDP datagram at MTU 3,498.
        for (var seq = 0; seq < 400; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 3000 + seq * 470 / 399), target);
        }

        await Eventually.TrueAsync(() => receiver.Count + receiver.Corrupt >= 400, "400 datagrams at the receiver");
        Assert.Equal(0, receiver.Corrupt);
        Assert.Equal(Enumerable.Range(0, 400).Select(i => (long)i), receiver.Sequences.Order());
        var stats = forwarder.ReadStats();
        Assert.Equal(400, stats.Forwarded);
        Assert.Equal(400, stats.ModeCounters.Single(c => c.Name == "afxdp_rx_frames_total").Value);
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "afxdp_rx_dropped_total").Value);
    }

    [Fact]
    public void Start_MtuTooLargeForAUmemFrame_RefusesAndSaysWhatToChange()
    {
        using var bed = NetnsTestbed.Create("ufr", "10.248", downstreams: 0, mtu: 4000);
        var forwarder = bed.Proxy.Invoke(() => new AfXdpForwarder(Listener(bed), NullLoggerFactory.Instance, FileDescriptorStores.None()));

        var error = Assert.Throws<InvalidOperationException>(() => bed.Proxy.Invoke(() =>
            forwarder.StartAsync(DownstreamSet.Empty, CancellationToken.None).GetAwaiter().GetResult()));

        Assert.IsType<ForwarderException>(error.InnerException);
        Assert.Equal(
            $"listener 'sized': {bed.ProxyIngress} has MTU 4000, but af_xdp receives frames of an MTU up to 3822 (a frame must fit in one 4096-byte UMEM frame after the kernel's 256 bytes of headroom): lower the MTU to 3822 or less (tuning: mtu), or use mode tc_ebpf or userspace",
            error.InnerException!.Message);
        Assert.DoesNotContain("xdp", bed.Proxy.Exec($"ip link show {bed.ProxyIngress}"));
        bed.Proxy.Invoke(() => forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
    }

    private static ListenerConfig Listener(NetnsTestbed bed) => new()
    {
        Name = "sized",
        Bind = new IPEndPoint(bed.ProxyAddress, ListenPort),
        Mode = ForwardingMode.AfXdp,
        Interface = bed.ProxyIngress,
    };

    /// <summary>Starts a forwarder to the testbed's one downstream; disposing it stops it inside the proxy namespace.</summary>
    private static StartedForwarder Start(NetnsTestbed bed)
    {
        // Created inside the proxy namespace: its sending socket belongs to the namespace it is created in.
        var forwarder = bed.Proxy.Invoke(() => new AfXdpForwarder(Listener(bed), NullLoggerFactory.Instance, FileDescriptorStores.None()));
        var downstream = new Downstream("s0", new IPEndPoint(bed.DownstreamAddress(0), ReceiverPort));
        var started = new StartedForwarder(bed, forwarder);
        try
        {
            bed.Proxy.Invoke(() => forwarder.StartAsync(new DownstreamSet([downstream]), CancellationToken.None).GetAwaiter().GetResult());
            return started;
        }
        catch
        {
            // What started before the failure (sockets, the fallback) must not outlive the test.
            started.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    private static Socket Client(NetnsTestbed bed) => bed.Client.Invoke(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(bed.ClientAddress, 0));
        return socket;
    });

    private sealed class StartedForwarder(NetnsTestbed bed, AfXdpForwarder forwarder) : IAsyncDisposable
    {
        public ListenerStats ReadStats() => forwarder.ReadStats();

        public ValueTask DisposeAsync()
        {
            bed.Proxy.Invoke(() => forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
            return ValueTask.CompletedTask;
        }
    }
}
