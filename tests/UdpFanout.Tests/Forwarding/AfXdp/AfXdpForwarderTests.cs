using System.Net.Sockets;
using System.Net;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>The XDP program and AF_XDP sockets for real on a veth with two RX queues: the shared data-path tests plus the mode's own, a mixed-family listener among them.</summary>
public sealed class AfXdpForwarderTests() : KernelForwarderTests("ufx", "10.202", proxyRxQueues: 2)
{
    private protected override ForwardingMode Mode => ForwardingMode.AfXdp;

    // The payload leaves through a socket of the proxy, from its address on the downstream's network.
    protected override IPAddress ExpectedSource(int index) =>
        IPAddress.Parse(Ipv6 ? $"{Bed.Ipv6Network}:{11 + index}::1" : $"{Bed.Network}.{11 + index}.1");

    private readonly RecordingLogger _log = new();

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new AfXdpForwarder(listener, new LoggerFactory([new RecordingLoggerProvider(_log)]), FileDescriptorStores.None());

    private protected override InjectedFault FallbackFault(IListenerForwarder forwarder) => ((AfXdpForwarder)forwarder).FallbackFault;

    private protected override long PassedToStack(ListenerStats stats, string reason) =>
        stats.ModeCounters.Single(c => c.Name == "afxdp_passed_to_stack_total" && c.Labels![0].Value == reason).Value;

    // Not in tc_ebpf: its fallback keeps the client's address, so the ICMP errors go to the client, not to the proxy.
    [Fact]
    public async Task Forward_FallbackToAClosedPort_CountsEachIcmpPortUnreachable()
    {
        var closed = ClosedDownstream();
        var forwarder = Start([closed]);
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

        await client.SendAsync(20, _ => 8000, burst: 5);

        await Eventually.TrueAsync(() => IcmpErrors(forwarder, closed, IcmpError.PortUnreachable) == 20, "20 port unreachable errors for the closed downstream");
        var stats = forwarder.ReadStats();
        Assert.Equal((20L, 20L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
    }

    [Fact]
    public async Task Forward_MixedFamilyListener_BothFamiliesTakeTheSocketsAndReachEveryDownstream()
    {
        // The payload leaves through a socket of the proxy, so a datagram of either family can go to a downstream of either.
        var forwarder = await ForwardBothFamiliesThroughAnIpv6AnyListenerAsync();

        Assert.Equal(Enumerable.Range(0, 300).Concat(Enumerable.Range(1000, 300)).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers[1..], r => Assert.InRange(r.Count, 150, 250));
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L), (stats.Received, stats.Forwarded));
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Start_TwoRxQueues_StartsTwoForwardersThatBothCarryTraffic()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        // veth delivers on the receive queue matching the sender's transmit queue, which follows the sending CPU.
        var clients = Enumerable.Range(0, 16).Select(_ => ClientSocket()).ToArray();
        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);
        var seq = 0L;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(cpu => Task.Run(() =>
        {
            foreach (var client in clients)
            {
                for (var i = 0; i < 200; i++)
                {
                    client.SendTo(NumberedPayload.Create(Interlocked.Increment(ref seq), 64), target);
                }
            }
        })));

        await Eventually.TrueAsync(() => forwarder.ReadStats().Forwarded == 6400, "every datagram forwarded");
        var perQueue = forwarder.ReadStats().ModeCounters.Where(c => c.Name == "afxdp_rx_frames_total").Select(c => c.Value).ToArray();
        Assert.Equal(2, perQueue.Length);
        Assert.All(perQueue, received => Assert.True(received > 0, $"a queue carried nothing: {string.Join(",", perQueue)}"));
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task Forward_RxRingsOverflowWhileTheForwardersStall_RingDropsCountAsReceivedAndDropped()
    {
        var forwarder = (AfXdpForwarder)Start(Downstreams(0, 1, 2));
        forwarder.PauseQueueForwarders(true);
        await Task.Delay(50);
        using var client = ClientSocket();
        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);

        // More than the two queues' RX rings hold (8192 frames each), in bursts the veth between can carry.
        for (var seq = 0; seq < 20_000; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), target);
            if (seq % 200 == 199)
            {
                await Task.Delay(1);
            }
        }
        forwarder.PauseQueueForwarders(false);

        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 20_000, "every datagram sent counted as received");
        await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) == forwarder.ReadStats().Forwarded, "the forwarded datagrams at the receivers");
        var stats = forwarder.ReadStats();
        Assert.True(stats.Dropped[(int)DropReason.XskRxRingFull] >= 20_000 - 2 * 8192, $"{stats.Dropped[(int)DropReason.XskRxRingFull]} ring-full drops");
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(stats.DroppedTotal, stats.Dropped[(int)DropReason.XskRxRingFull]);
        Assert.Equal(stats.Forwarded, Receivers.SelectMany(r => r.Sequences).Distinct().Count());
    }

    [Fact]
    public async Task Forward_AQueueForwarderThrowsMidBatch_LoggedOnceCountedAsARestartTheBatchDroppedAndForwardingGoesOn()
    {
        var forwarder = (AfXdpForwarder)Start(Downstreams(0, 1, 2));
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);
        await client.SendAsync(100, _ => 64, burst: 10);

        // The next batch of either queue throws after it is counted as received and before it is sent, as a bug would.
        forwarder.Fault.Arm(new InvalidOperationException("a bug in the loop"));
        await client.SendAsync(2000, _ => 64, burst: 10);

        await Eventually.TrueAsync(() => forwarder.ReadStats() is var s && s.Forwarded + s.DroppedTotal == 2100 && Receivers.Sum(r => r.Count) == s.Forwarded,
            "every datagram forwarded or dropped, and the forwarded ones at the receivers");
        var stats = forwarder.ReadStats();
        var dropped = stats.Dropped[(int)DropReason.WorkerFailed];
        Assert.InRange(dropped, 1, 10);
        // Received once each: the failed batch's frames left the RX ring and were not read a second time.
        Assert.Equal((2100L, 2100L - dropped, dropped), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(1, stats.ModeCounters.Single(c => c.Name == "worker_restarts_total").Value);
        var error = Assert.Single(_log.At(LogLevel.Error));
        Assert.Matches("^kernel/q[01]$", error.Values["Worker"]);
        Assert.Equal($"listener kernel: forwarding thread {error.Values["Worker"]} failed and starts again in 100 ms; its unfinished batch of {dropped} datagram(s) counts as dropped (worker_failed)", error.Message);
        Assert.Equal("kernel", error.Values["Listener"]);
        var arrived = Receivers.SelectMany(r => r.Sequences).ToHashSet();
        Assert.Equal(2100 - dropped, arrived.Count);
        Assert.Contains(2099L, arrived);
    }

    [Fact]
    public async Task Forward_ToAClosedPort_CountsEachIcmpPortUnreachableOfTheFastPath()
    {
        var closed = ClosedDownstream();
        var forwarder = Start([closed]);
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

        await client.SendAsync(200, _ => 64, burst: 10);

        await Eventually.TrueAsync(() => IcmpErrors(forwarder, closed, IcmpError.PortUnreachable) == 200, "200 port unreachable errors for the closed downstream");
        Assert.Equal(0, forwarder.ReadStats().ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    // veth attaches native XDP when asked, and its AF_XDP sockets bind in copy mode.
    [Theory]
    [InlineData("auto", "native")]
    [InlineData("skb", "skb")]
    public void ReadStats_Attached_ReportsTheXdpAndBindModeThenNothingOnceStopped(string configured, string attached)
    {
        // By name, as the config says it (XdpAttachMode is internal, so not a parameter of a public test).
        var forwarder = Start(Downstreams(0), Listener() with { XdpMode = Enum.Parse<XdpAttachMode>(configured, ignoreCase: true) });

        var info = Assert.Single(forwarder.ReadStats().ModeInfos);
        Assert.Equal("afxdp_attached", info.Name);
        Assert.Equal(new KeyValuePair<string, string>[] { new("xdp_mode", attached), new("bind_mode", "copy") }, info.Labels);
        // The log line says the same.
        Assert.Contains(_log.Messages, m => m.Contains($"({attached} mode)") && m.EndsWith("AF_XDP copy mode"));

        Stop();

        // The final counts stay readable; the attachment they would describe is gone.
        Assert.Empty(forwarder.ReadStats().ModeInfos);
    }

    [Fact]
    public void Dispose_DetachesTheXdpProgram()
    {
        Start(Downstreams(0));
        Assert.Contains("xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));

        Stop();

        Assert.DoesNotContain("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
    }

    [Fact]
    public void Start_MoreQueuesThanTheInterfaceHas_SaysHowMany()
    {
        var forwarder = Create(Listener() with { Queues = 8 });

        var error = Assert.Throws<InvalidOperationException>(() => Bed.Proxy.Invoke(() =>
            forwarder.StartAsync(UdpFanout.Balancing.DownstreamSet.Empty, CancellationToken.None).GetAwaiter().GetResult()));

        Assert.Equal($"listener 'kernel': queues: 8, but {Bed.ProxyIngress} has 2 RX queue(s) (lower queues:, or raise the channel count with tuning:)", error.InnerException!.Message);
    }
}
