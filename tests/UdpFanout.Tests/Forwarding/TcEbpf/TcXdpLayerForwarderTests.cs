using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// tc_ebpf with its XDP layer, attached for real with <c>xdp: on</c> (the testbed's interfaces are veths, where
/// <c>xdp: auto</c> runs the tc program alone), where every downstream's veth can take XDP frames (an XDP_PASS
/// program on its peer, which veth needs to receive redirected frames): the shared data-path tests then run with
/// the layer forwarding, and these add what the layer itself must do: forward at XDP, pass to the tc program
/// where it cannot, count each datagram once, share the interface's XDP slot with other listeners and tools.
/// </summary>
public sealed class TcXdpLayerForwarderTests : KernelForwarderTests
{
    private readonly RecordingLogger _log = new();

    public TcXdpLayerForwarderTests() : base("uxf", "10.194")
    {
        // Complete UDP checksums, as frames off a wire carry; a local sender's offload seed is a case of its own below.
        SetClientChecksumOffload(on: false);
        for (var i = 0; i < 3; i++)
        {
            SetPeerXdp(i, attached: true);
            // The proxy knows each downstream's MAC before the first datagram: an unresolved neighbour is the tc
            // program's to resolve (Forward_NextHopUnresolved_FirstDatagramsMeetTheTcProgram).
            Bed.Proxy.Exec($"ping -c 1 -W 2 {Bed.DownstreamAddress(i)}");
        }
    }

    private protected override ForwardingMode Mode => ForwardingMode.TcEbpf;

    private protected override XdpLayer TcXdp => XdpLayer.On;

    protected override IPAddress ExpectedSource(int index) => ClientAddress;

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new TcEbpfForwarder(listener, new LoggerFactory([new RecordingLoggerProvider(_log)]), FileDescriptorStores.None());

    private protected override InjectedFault FallbackFault(IListenerForwarder forwarder) => ((TcEbpfForwarder)forwarder).FallbackFault;

    private protected override long PassedToStack(ListenerStats stats, string reason) =>
        stats.ModeCounters.Single(c => c.Name == "tc_passed_to_stack_total" && c.Labels![0].Value == reason).Value;

    [Fact]
    public async Task Forward_EgressTakesXdpFrames_EveryDatagramOnceByteExactAllAtXdp()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 30_000, seq => 16 + (int)(seq % 1400));

        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.All(Receivers, r => Assert.All(r.Sources, s => Assert.Equal(Bed.ClientAddress, s.Address)));
        var stats = forwarder.ReadStats();
        Assert.Equal((30_000L, 30_000L, 30_000L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
        Assert.All(Receivers.Select((r, i) => (r, i)), p => Assert.Equal(p.r.Count, stats.Downstreams.Single(d => d.Downstream.Name == $"s{p.i}").Packets));
        Assert.Contains(_log.Messages, l => l.Contains("with an XDP layer in native mode"));
    }

    [Fact]
    public async Task Forward_Ipv6EgressTakesXdpFrames_EveryDatagramOnceByteExactAllAtXdp()
    {
        UseFamily("IPv6");
        KnowDownstreamNeighbours6();
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 9_000, seq => 16 + (int)(seq % 1400));

        Assert.Equal(Enumerable.Range(0, 9_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        // A datagram whose checksum the rewrite got wrong would be dropped by the receiving kernel, so missing above.
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.All(Receivers, r => Assert.All(r.Sources, s => Assert.Equal(Bed.ClientAddress6, s.Address)));
        var stats = forwarder.ReadStats();
        Assert.Equal((9_000L, 9_000L, 9_000L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
        Assert.Equal(0, stats.ModeCounters.Where(c => c.Name == "tc_xdp_passed_total").Sum(c => c.Value));
        Assert.All(Receivers.Select((r, i) => (r, i)), p => Assert.Equal(p.r.Count, stats.Downstreams.Single(d => d.Downstream.Name == $"s{p.i}").Packets));
    }

    [Fact]
    public void Forward_Ipv6HopLimitAtXdp_ArrivesDecrementedByOne()
    {
        UseFamily("IPv6");
        KnowDownstreamNeighbours6();
        using var receiver = Bed.Downstreams[0].Invoke(() => new HopLimitReceiver(6500));
        var forwarder = Start([new Downstream("s0", new IPEndPoint(Bed.DownstreamAddress6(0), 6500))]);

        var received = SendIpv6WithHopLimit64(receiver);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => ((long)i, 63)), received);
        Assert.Equal(20, Counter(forwarder.ReadStats(), "tc_xdp_forwarded_total"));
    }

    [Fact]
    public async Task Forward_Ipv6ExtensionHeadersAndFragments_PassToTheTcProgramByReasonAndStillArrive()
    {
        UseFamily("IPv6");
        KnowDownstreamNeighbours6();
        var forwarder = Start(Downstreams(0, 1, 2));
        using var withOptions = ClientSocket();
        // A destination options header of 8 bytes holding one PadN option: the kernel puts it on every datagram.
        withOptions.SetRawSocketOption(41, 59, new byte[] { 0, 0, 1, 4, 0, 0, 0, 0 });
        using var client = ClientSocket();

        await SendPacedAsync(withOptions, 20, _ => 64, burst: 10);
        await SendPacedAsync(client, 10, _ => 8000, burst: 5, first: 20);

        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((30L, 30L, 0L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
        // Only a first fragment carries the UDP header; the later ones are not the listener's to the layer.
        Assert.Equal((20L, 10L), (Counter(stats, "tc_xdp_passed_total", "extension_header"), Counter(stats, "tc_xdp_passed_total", "fragment")));
        Assert.Equal(30, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Start_Ipv6Listener_NeighbourDiscoveryStillAnsweredWhileItsDatagramsGoAtXdp()
    {
        UseFamily("IPv6");
        KnowDownstreamNeighbours6();
        var forwarder = Start(Downstreams(0));
        Bed.Client.Exec("ip -6 neigh flush all");

        var ping = Bed.Client.TryExec($"ping -6 -c 2 -W 2 {Bed.ProxyAddress6}");
        using var client = ClientSocket();
        await SendPacedAsync(client, 10, _ => 64, burst: 10);

        Assert.NotNull(((TcEbpfForwarder)forwarder).XdpLayer);
        Assert.True(ping.Code == 0, ping.Output);
        Assert.Contains("lladdr", Bed.Client.Exec($"ip -6 neigh show {Bed.ProxyAddress6}"));
        Assert.Equal(10, Counter(forwarder.ReadStats(), "tc_xdp_forwarded_total"));
    }

    [Fact]
    public async Task Forward_MixedFamilyListener_BothFamiliesGoAtXdpEachToItsOwnDownstreams()
    {
        KnowDownstreamNeighbours6();

        var forwarder = await ForwardBothFamiliesThroughAnIpv6AnyListenerAsync();

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), Receivers[3].Sequences.Order());
        Assert.Equal(Enumerable.Range(1000, 300).Select(i => (long)i), Receivers[..3].SelectMany(r => r.Sequences).Order());
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L, 600L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task Forward_EgressDropsFramesAtTransmit_CountedAsXdpTransmitFailedAndTheIdentityHolds(string family)
    {
        UseFamily(family);
        KnowDownstreamNeighbours6();
        // The downstream's end runs XDP, so the proxy's end is listed as taking XDP frames and the redirect succeeds,
        // but its MTU is below the large datagrams: veth_xdp_xmit refuses a frame longer than its peer's MTU, and the
        // kernel frees it after bpf_redirect_map returned. 1,280 is the least IPv6 allows on a link.
        Bed.Downstreams[0].Exec($"ip link set dev {Bed.Id}s0 mtu 1280");
        var forwarder = Start(Downstreams(0));
        using var client = ClientSocket();

        await SendPacedAsync(client, 100, _ => 64, burst: 10);
        for (var seq = 100; seq < 200; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 1400), new IPEndPoint(ProxyAddress, ListenPort));
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Dropped[(int)DropReason.XdpTransmitFailed] == 100, "100 transmit failures counted");

        var stats = forwarder.ReadStats();
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), Receivers[0].Sequences.Order());
        Assert.Equal((200L, 100L, 100L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(100, Counter(stats, "tc_xdp_forwarded_total"));
    }

    [Fact]
    public async Task Forward_EgressPeerDown_EveryFrameCountedAsXdpTransmitFailed()
    {
        // The peer's XDP program keeps the proxy's end listed as taking XDP frames, and a permanent neighbour entry
        // outlives the lost carrier, so the route resolves and the redirect succeeds; with the peer down its NAPI is
        // gone, and veth_xdp_xmit refuses the whole batch (ENXIO) after bpf_redirect_map returned.
        var mac = Bed.Downstreams[0].Exec($"cat /sys/class/net/{Bed.Id}s0/address").Trim();
        Bed.Proxy.Exec($"ip neigh replace {Bed.DownstreamAddress(0)} lladdr {mac} dev {Bed.Id}d0 nud permanent");
        Bed.Downstreams[0].Exec($"ip link set dev {Bed.Id}s0 down");
        var forwarder = Start(Downstreams(0));
        using var client = ClientSocket();

        for (var seq = 0; seq < 100; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(ProxyAddress, ListenPort));
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Dropped[(int)DropReason.XdpTransmitFailed] == 100, "100 transmit failures counted");

        var stats = forwarder.ReadStats();
        Assert.Equal((100L, 0L, 100L), (stats.Received, stats.Forwarded, stats.Dropped[(int)DropReason.XdpTransmitFailed]));
        Assert.Equal(0, Counter(stats, "tc_xdp_forwarded_total"));
        Assert.Equal(0, Receivers[0].Count);
    }

    [Fact]
    public async Task Forward_EgressCannotTakeXdpFrames_EverythingThroughTheTcProgramCountedOnce()
    {
        for (var i = 0; i < 3; i++)
        {
            SetPeerXdp(i, attached: false);
        }
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 9_000, seq => 16 + (int)(seq % 1400));

        Assert.Equal(Enumerable.Range(0, 9_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        // A round-robin position per CPU: the counts may differ by one per CPU.
        Assert.All(Receivers, r => Assert.InRange(r.Count, 2_995, 3_005));
        var stats = forwarder.ReadStats();
        Assert.Equal((9_000L, 9_000L, 0L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
        Assert.Equal(9_000, Counter(stats, "tc_xdp_passed_total", "egress_without_xdp"));
    }

    [Fact]
    public async Task Forward_EgressGainsThenLosesXdpWhileRunning_TheLayerFollowsTheKernelsNotifications()
    {
        SetPeerXdp(0, attached: false);
        var forwarder = Start(Downstreams(0));
        var layer = ((TcEbpfForwarder)forwarder).XdpLayer!;
        using var client = ClientSocket();
        await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);
        Assert.Equal((0, 100), (Counter(forwarder.ReadStats(), "tc_xdp_forwarded_total"), Counter(forwarder.ReadStats(), "tc_xdp_passed_total", "egress_without_xdp")));
        // Read once at the start and not again while no device changes: nothing polls.
        await Task.Delay(1500);
        Assert.Equal(1, layer.Refreshes);

        SetPeerXdp(0, attached: true);
        var seq = 100;
        await Eventually.TrueAsync(() =>
        {
            client.SendTo(NumberedPayload.Create(seq++, 64), new IPEndPoint(Bed.ProxyAddress, ListenPort));
            return Counter(forwarder.ReadStats(), "tc_xdp_forwarded_total") > 0;
        }, "a datagram forwarded at XDP once the egress takes XDP frames");
        SetPeerXdp(0, attached: false);
        var passed = Counter(forwarder.ReadStats(), "tc_xdp_passed_total", "egress_without_xdp");
        await Eventually.TrueAsync(() =>
        {
            client.SendTo(NumberedPayload.Create(seq++, 64), new IPEndPoint(Bed.ProxyAddress, ListenPort));
            return Counter(forwarder.ReadStats(), "tc_xdp_passed_total", "egress_without_xdp") > passed;
        }, "a datagram passed to the tc program once the egress no longer takes XDP frames");

        await Eventually.TrueAsync(() => Receivers[0].Count == seq, $"{seq} datagrams at the receiver");
        Assert.Equal(Enumerable.Range(0, seq).Select(i => (long)i), Receivers[0].Sequences.Order());
        Assert.True(layer.Refreshes >= 3, $"{layer.Refreshes} reads: at the start and after each change");
    }

    [Fact]
    public async Task Follow_NotificationsLost_ReadsAfreshSaysSoOnceAndFollowsOn()
    {
        SetPeerXdp(0, attached: false);
        var forwarder = Start(Downstreams(0));
        var layer = ((TcEbpfForwarder)forwarder).XdpLayer!;

        // What the notification socket throws when the kernel dropped notifications it could not take.
        layer.Fault.Arm(global::Interop.Netlink.NetlinkException.For("the kernel dropped netlink messages this socket could not take in time (while asked to read notifications)", global::Interop.Libc.ENOBUFS));
        await Eventually.TrueAsync(() => layer.Refreshes == 2, "a fresh read of every interface after the lost notifications");
        SetPeerXdp(0, attached: true);
        using var client = ClientSocket();
        var seq = 0;
        await Eventually.TrueAsync(() =>
        {
            client.SendTo(NumberedPayload.Create(seq++, 64), new IPEndPoint(Bed.ProxyAddress, ListenPort));
            return Counter(forwarder.ReadStats(), "tc_xdp_forwarded_total") > 0;
        }, "a datagram forwarded at XDP once the egress takes XDP frames, notified after the failure");

        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Equal("listener kernel: following which interfaces take XDP frames failed, the XDP layer keeps its last list and reads it afresh until that works: " +
            "the kernel dropped netlink messages this socket could not take in time (while asked to read notifications): No buffer space available (errno 105)", warning.Message);
        Assert.Contains("listener kernel: following which interfaces take XDP frames again", _log.Messages);
        await Eventually.TrueAsync(() => Receivers[0].Count == seq, $"{seq} datagrams at the receiver");
    }

    [Fact]
    public async Task Forward_Weights123AtXdp_SharesFollowTheWeightsWithin1Percent()
    {
        var set = Downstreams(0, 1, 2).Select((d, i) => d with { Weight = i + 1 }).ToArray();
        var forwarder = Start(set);
        using var client = ClientSocket();

        await SendPacedAsync(client, 12_000, _ => 64);

        var stats = forwarder.ReadStats();
        Assert.Equal(12_000, Counter(stats, "tc_xdp_forwarded_total"));
        for (var i = 0; i < 3; i++)
        {
            Assert.InRange(Receivers[i].Count / 12_000.0, (i + 1) / 6.0 - 0.01, (i + 1) / 6.0 + 0.01);
        }
    }

    [Fact]
    public async Task Forward_FramesOfTheBenchmarksGenerator_AllAtXdp()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        var config = Path.Combine(Path.GetTempPath(), $"udp-fanout-trafgen-{Guid.NewGuid():N}.cfg");
        File.WriteAllText(config, $$"""
            {
              eth(da={{Bed.Proxy.Exec($"cat /sys/class/net/{Bed.ProxyIngress}/address").Trim()}}, sa={{Bed.Client.Exec($"cat /sys/class/net/{Bed.ClientInterface}/address").Trim()}}),
              ipv4(saddr={{Bed.ClientAddress}}, daddr={{Bed.ProxyAddress}}, ttl=64),
              udp(sport=drnd(1024, 65000), dport={{ListenPort}}),
              fill(0x41, 64),
            }
            """);
        try
        {
            Bed.Client.Exec($"trafgen --dev {Bed.ClientInterface} --conf {config} -n 3000 -q --gap 10us");
            await Eventually.TrueAsync(() => forwarder.ReadStats().Forwarded == 3000, "3000 datagrams forwarded");

            var stats = forwarder.ReadStats();
            Assert.True(Counter(stats, "tc_xdp_forwarded_total") == 3000, string.Join(", ", stats.ModeCounters.Where(c => c.Value != 0).Select(c => $"{c.Name}{string.Join("", c.Labels?.Select(l => "/" + l.Value) ?? [])}={c.Value}")));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Forward_LocalSenderWithChecksumOffload_SeedsPassToTheTcProgramAndArriveIntact()
    {
        SetClientChecksumOffload(on: true);
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 3_000, seq => 16 + (int)(seq % 1400));

        Assert.Equal(Enumerable.Range(0, 3_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((3_000L, 3_000L, 0L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
        Assert.Equal(3_000, Counter(stats, "tc_xdp_passed_total", "udp_checksum"));
    }

    [Fact]
    public async Task Forward_OneEgressTakesXdpFramesTheOthersNot_BothLayersShareOneRotation()
    {
        SetPeerXdp(1, attached: false);
        SetPeerXdp(2, attached: false);
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 9_000, _ => 64);

        var stats = forwarder.ReadStats();
        Assert.Equal(Enumerable.Range(0, 9_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.Equal((9_000L, 9_000L), (stats.Received, stats.Forwarded));
        // Only the egress that takes XDP frames gets any at XDP. On a loaded machine a few of its datagrams can meet
        // the tc program instead (the layer passes one it cannot send, counted by reason), never the other way round.
        var atXdp = Counter(stats, "tc_xdp_forwarded_total");
        Assert.InRange(atXdp, Receivers[0].Count * 98 / 100, Receivers[0].Count);
        Assert.All(Receivers, r => Assert.InRange(r.Count, 2_700, 3_300));
    }

    [Fact]
    public async Task Forward_NextHopUnresolved_FirstDatagramsMeetTheTcProgramWhichResolvesIt()
    {
        Bed.Proxy.Exec($"ip neigh flush dev {Bed.Id}d0");
        var forwarder = Start(Downstreams(0));
        using var client = ClientSocket();

        await SendPacedAsync(client, 1, _ => 64);
        await SendPacedAsync(client, 100, _ => 64);

        var stats = forwarder.ReadStats();
        Assert.Equal((101L, 101L), (stats.Received, stats.Forwarded));
        Assert.Equal(1, Counter(stats, "tc_xdp_passed_total", "neighbour_unresolved"));
        Assert.Equal(1, Counter(stats, "tc_forwarded_neighbour_unresolved_total"));
        Assert.Equal(100, Counter(stats, "tc_xdp_forwarded_total"));
    }

    [Fact]
    public async Task Forward_XdpOff_NoLayerAndTheTcProgramForwardsAlone()
    {
        var forwarder = Start(Downstreams(0, 1, 2), Listener() with { Xdp = XdpLayer.Off });
        using var client = ClientSocket();

        await SendPacedAsync(client, 3_000, _ => 64);

        var stats = forwarder.ReadStats();
        Assert.Equal((3_000L, 3_000L), (stats.Received, stats.Forwarded));
        Assert.DoesNotContain(stats.ModeCounters, c => c.Name.StartsWith("tc_xdp_", StringComparison.Ordinal));
        Assert.DoesNotContain("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
        Assert.Contains(_log.Messages, l => l.Contains("without an XDP layer"));
    }

    [Fact]
    public async Task Start_AnotherToolsXdpProgramOnTheInterface_TcAloneSaysWhyOnceAndStopLeavesTheProgram()
    {
        Bed.Proxy.Exec($"ip link set dev {Bed.ProxyIngress} xdpdrv obj {BpfObjectLocator.Find("xdp_chain.bpf.o")} sec xdp");
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 300, _ => 64);
        Stop();

        Assert.Equal((300L, 0L), (forwarder.ReadStats().Forwarded, Counter(forwarder.ReadStats(), "tc_xdp_forwarded_total", orZero: true)));
        // xdp: on asked for the layer: a warning, not the information auto gives, and the listener runs on.
        var warning = Assert.Single(_log.Entries, e => e.Message.Contains("no XDP layer on"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith($"listener kernel: xdp: on, but no XDP layer on {Bed.ProxyIngress}, the tc program forwards alone: ", warning.Message);
        Assert.Contains("already has an XDP program that no udp-fanout listener of this host shares", warning.Message);
        Assert.Contains("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
    }

    [Fact]
    public async Task Start_XdpAutoOnAVeth_NoLayerTheTcProgramForwardsEachDatagramOnceAndTheLogSaysWhyOnce()
    {
        // The downstreams' peers run XDP, so the layer could forward here: auto leaves it out because the ingress is a veth.
        var forwarder = Start(Downstreams(0, 1, 2), Listener() with { Xdp = XdpLayer.Auto });
        using var client = ClientSocket();

        await SendPacedAsync(client, 3_000, seq => 16 + (int)(seq % 1400));

        Assert.Null(((TcEbpfForwarder)forwarder).XdpLayer);
        Assert.DoesNotContain("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
        Assert.Null(XdpLinks.Of(Bed.Proxy, Bed.ProxyIngress));
        Assert.Equal(Enumerable.Range(0, 3_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((3_000L, 3_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.DoesNotContain(stats.ModeCounters, c => c.Name.StartsWith("tc_xdp_", StringComparison.Ordinal));
        var why = Assert.Single(_log.Entries, e => e.Message.Contains("no XDP layer on"));
        Assert.Equal(LogLevel.Information, why.Level);
        Assert.Equal($"listener kernel: no XDP layer on {Bed.ProxyIngress}, the tc program forwards alone: it is a veth, whose XDP meets the stack's frames as copies of skbs, "
            + "and the veth the layer sends to builds an skb again, so the layer would cost more CPU than it saves; xdp: on forces it (it pays where frames reach the veth as XDP frames, redirected from a NIC's XDP program)",
            why.Message);
        Assert.Contains(_log.Messages, l => l.Contains("without an XDP layer"));
    }

    [Fact]
    public async Task Start_XdpOnOnAVeth_TheLayerAttachesAndForwardsAtXdp()
    {
        var forwarder = Start(Downstreams(0, 1, 2), Listener() with { Xdp = XdpLayer.On });
        using var client = ClientSocket();

        await SendPacedAsync(client, 3_000, _ => 64);

        Assert.NotNull(((TcEbpfForwarder)forwarder).XdpLayer);
        Assert.Contains("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
        Assert.Equal(Enumerable.Range(0, 3_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        var stats = forwarder.ReadStats();
        Assert.Equal((3_000L, 3_000L, 3_000L), (stats.Received, stats.Forwarded, Counter(stats, "tc_xdp_forwarded_total")));
        Assert.DoesNotContain(_log.Messages, l => l.Contains("no XDP layer on"));
        Assert.Contains(_log.Messages, l => l.Contains("with an XDP layer in native mode"));
    }

    [Fact]
    public async Task Start_TwoTcEbpfListenersOnOneInterface_BothForwardAtXdpAndStoppingOneLeavesTheOther()
    {
        var first = Start(Downstreams(0));
        var second = StartOther(Listener() with { Name = "second", Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort + 1) }, Downstreams(1));
        try
        {
            using var client = ClientSocket();
            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);
            await SendToAsync(client, ListenPort + 1, 100, 100, () => Receivers[1].Count);
            Assert.Equal(100, Counter(first.ReadStats(), "tc_xdp_forwarded_total"));
            Assert.Equal(100, Counter(second.ReadStats(), "tc_xdp_forwarded_total"));

            Stop();
            await SendToAsync(client, ListenPort + 1, 200, 100, () => Receivers[1].Count);

            Assert.Equal(200, Counter(second.ReadStats(), "tc_xdp_forwarded_total"));
            Assert.Contains("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
        }
        finally
        {
            Bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        Assert.DoesNotContain("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
    }

    [Fact]
    public async Task Start_AnAfXdpListenerBesideOnOneInterface_BothForwardAndEachStopLeavesTheOther()
    {
        var afXdp = StartOther(Listener() with { Name = "afxdp", Mode = ForwardingMode.AfXdp, Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort + 1) }, Downstreams(1));
        var tc = Start(Downstreams(0));
        var afXdpStopped = false;
        try
        {
            using var client = ClientSocket();
            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);
            await SendToAsync(client, ListenPort + 1, 100, 100, () => Receivers[1].Count);
            Assert.Equal(100, Counter(tc.ReadStats(), "tc_xdp_forwarded_total"));
            Assert.Equal(100, afXdp.ReadStats().Forwarded);

            Bed.Proxy.Invoke(() => afXdp.DisposeAsync().AsTask().GetAwaiter().GetResult());
            afXdpStopped = true;
            await SendToAsync(client, ListenPort, 200, 100, () => Receivers[0].Count);
            Assert.Equal(200, Counter(tc.ReadStats(), "tc_xdp_forwarded_total"));

            afXdp = StartOther(Listener() with { Name = "afxdp", Mode = ForwardingMode.AfXdp, Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort + 1) }, Downstreams(1));
            afXdpStopped = false;
            Stop();
            await SendToAsync(client, ListenPort + 1, 300, 100, () => Receivers[1].Count);
            Assert.Equal(100, afXdp.ReadStats().Forwarded);
            Assert.Equal(200, Receivers[1].Count);
        }
        finally
        {
            if (!afXdpStopped)
            {
                Bed.Proxy.Invoke(() => afXdp.DisposeAsync().AsTask().GetAwaiter().GetResult());
            }
        }
        Assert.DoesNotContain("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
    }

    [Fact]
    public async Task Start_AnAfXdpListenerThatDemandsSkbModeBesideANativeLayer_IsRefusedAndTheLayerGoesOn()
    {
        var tc = Start(Downstreams(0));
        var afXdp = Listener() with { Name = "afxdp", Mode = ForwardingMode.AfXdp, XdpMode = XdpAttachMode.Skb, Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort + 1) };

        var error = Assert.Throws<InvalidOperationException>(() => StartOther(afXdp, Downstreams(1)));
        using var client = ClientSocket();
        await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);

        Assert.Equal($"listener 'afxdp': {Bed.ProxyIngress} already runs other listeners' XDP programs in native mode, and an interface has one mode (set xdp_mode: auto or native)", error.InnerException!.Message);
        Assert.Equal(100, Counter(tc.ReadStats(), "tc_xdp_forwarded_total"));
    }

    [Fact]
    public async Task Restart_UnderSystemd_TheXdpLinkStaysAndTheNextLayerForwardsAtXdpOnTheSameLink()
    {
        using var systemd = new NotifySocket();
        var store = new FileDescriptorStore(systemd.Path, [], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        TcEbpfForwarder? next = null;
        try
        {
            using var client = ClientSocket();
            var first = StartStored(store);
            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);
            Assert.Equal(100, Counter(first.ReadStats(), "tc_xdp_forwarded_total"));
            var attached = XdpLinks.Of(Bed.Proxy, Bed.ProxyIngress)!.Value;
            Bed.Proxy.Invoke(() => first.DisposeAsync().AsTask().GetAwaiter().GetResult());

            // No listener runs: the XDP link stays, its chain empty, and the kept tcx link's program forwards on.
            Assert.Equal(attached, XdpLinks.Of(Bed.Proxy, Bed.ProxyIngress));
            await SendToAsync(client, ListenPort, 100, 100, () => Receivers[0].Count);

            next = StartStored(store);
            var now = XdpLinks.Of(Bed.Proxy, Bed.ProxyIngress)!.Value;
            Assert.Equal((attached.LinkId, true), (now.LinkId, now.Native));
            Assert.NotEqual(attached.ProgramId, now.ProgramId);
            await SendToAsync(client, ListenPort, 200, 100, () => Receivers[0].Count);
            Assert.Equal(100, Counter(next.ReadStats(), "tc_xdp_forwarded_total"));
            Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), Receivers[0].Sequences.Order());
        }
        finally
        {
            if (next is not null)
            {
                Bed.Proxy.Invoke(() => next.DisposeAsync().AsTask().GetAwaiter().GetResult());
            }
            store.CloseSpare();
            while (systemd.Next(0.3) is var (_, fd))
            {
                fd?.Dispose();
            }
        }
        // The store's flush, played by closing every copy: the kernel detached the chain.
        Assert.Null(XdpLinks.Of(Bed.Proxy, Bed.ProxyIngress));
    }

    private TcEbpfForwarder StartStored(FileDescriptorStore store) => Bed.Proxy.Invoke(() =>
    {
        var forwarder = new TcEbpfForwarder(Listener(), new LoggerFactory([new RecordingLoggerProvider(_log)]), store);
        forwarder.StartAsync(new DownstreamSet(Downstreams(0)), CancellationToken.None).GetAwaiter().GetResult();
        return forwarder;
    });

    private IListenerForwarder StartOther(ListenerConfig config, Downstream[] downstreams) => Bed.Proxy.Invoke(() =>
    {
        IListenerForwarder f = config.Mode == ForwardingMode.AfXdp
            ? new AfXdpForwarder(config, new LoggerFactory([new RecordingLoggerProvider(_log)]), FileDescriptorStores.None())
            : Create(config);
        try
        {
            f.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch
        {
            f.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        return f;
    });

    /// <summary>The proxy learns each downstream's IPv6 neighbour before the first datagram, as the constructor does for IPv4.</summary>
    private void KnowDownstreamNeighbours6()
    {
        for (var i = 0; i < 3; i++)
        {
            Bed.Proxy.Exec($"ping -6 -c 1 -W 2 {Bed.DownstreamAddress6(i)}");
        }
    }

    /// <summary>With offload on, the client's frames carry only the pseudo-header seed in their UDP checksum.</summary>
    private void SetClientChecksumOffload(bool on) => Bed.Client.Exec($"ethtool -K {Bed.ClientInterface} tx {(on ? "on" : "off")}");

    /// <summary>An XDP_PASS program on the downstream's side of its veth: the proxy's end then takes redirected frames.</summary>
    private void SetPeerXdp(int downstream, bool attached) =>
        Bed.Downstreams[downstream].Exec(attached
            ? $"ip link set dev {Bed.Id}s{downstream} xdpdrv obj {BpfObjectLocator.Find("xdp_chain.bpf.o")} sec xdp"
            : $"ip link set dev {Bed.Id}s{downstream} xdpdrv off");

    private async Task SendToAsync(Socket client, int port, int first, int count, Func<int> arrived)
    {
        var before = arrived();
        for (var seq = first; seq < first + count; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(Bed.ProxyAddress, port));
        }
        await Eventually.TrueAsync(() => arrived() == before + count, $"{count} datagrams to port {port} at their receiver");
    }

    private static long Counter(ListenerStats stats, string name, string? reason = null, bool orZero = false)
    {
        var matching = stats.ModeCounters.Where(c => c.Name == name && (reason is null || c.Labels![0].Value == reason)).ToArray();
        return orZero && matching.Length == 0 ? 0 : matching.Single().Value;
    }
}
