using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// tc_ebpf's XDP layer where the downstreams share the listener's segment, with real packets: the route leads back
/// out of the interface the datagram came in on, so the layer sends it with XDP_TX, not through its devmap, and
/// what the device then refuses is counted from the tracepoints XDP_TX reports to.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class TcXdpLayerSegmentTests : IAsyncLifetime
{
    private const int ListenPort = 5514;
    private readonly SegmentTestbed _bed = SegmentTestbed.Create("uxs", "10.185", downstreams: 3);
    private readonly List<CountingReceiver> _receivers = [];
    private readonly RecordingLogger _log = new();
    private TcEbpfForwarder? _forwarder;

    public Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            var port = 6000 + i;
            _receivers.Add(_bed.Downstreams[i].Invoke(() => new CountingReceiver(IPAddress.Any, port)));
            _bed.Proxy.Exec($"ping -c1 -W2 {_bed.DownstreamAddress(i)}");
        }
        // The proxy routes, as a tc_ebpf host must (bpf_fib_lookup refuses otherwise).
        _bed.Proxy.Exec("sysctl -qw net.ipv4.ip_forward=1");
        // Entries stay reachable for the whole test once confirmed, as under steady traffic.
        _bed.Proxy.Exec($"sysctl -qw net.ipv4.neigh.{_bed.ProxyIngress}.base_reachable_time_ms=600000");
        // The bridge's end of the proxy's link runs XDP: veth delivers XDP_TX frames only to a peer that does.
        SetBridgePortXdp(attached: true);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            _bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        _receivers.ForEach(r => r.Dispose());
        _bed.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>
    /// veth hands XDP_TX frames to its peer without waking the peer unless the peer runs XDP itself (veth_xdp_flush),
    /// and a peer with GRO alone counts as taking XDP frames: such frames would wait in the peer's ring until other
    /// traffic came, then overflow it. So on a veth the layer leaves a datagram whose route leads back out of the
    /// interface it came in on to the tc program.
    /// </summary>
    [Fact]
    public async Task Forward_DownstreamsOnTheListenersOwnVethWhosePeerRunsGro_EveryDatagramOnceThroughTc()
    {
        SetBridgePortXdp(attached: false);
        _bed.Bridge.Exec($"ethtool -K {_bed.Id}bp gro on");
        var forwarder = Start();
        using var sender = Sender(forwarder);

        await sender.SendAsync(1_000, seq => 16 + (int)(seq % 1400), burst: 200);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 1_000, "every datagram at the receivers");

        Assert.Equal(Enumerable.Range(0, 1_000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        var stats = forwarder.ReadStats();
        Assert.Equal((1_000L, 1_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal((0L, 1_000L), (Counter(stats, "tc_xdp_forwarded_total"), Counter(stats, "tc_xdp_passed_total", "egress_without_xdp")));
    }

    /// <summary>
    /// Where XDP_TX does work on a veth (its peer runs XDP), the frame the layer rewrites and sends back out is
    /// checked with real packets: the interface is listed as an egress by hand, as on a NIC it is by the daemon.
    /// </summary>
    [Fact]
    public async Task Forward_SentBackOutWithXdpTx_EveryDatagramOnceByteExactSourceKept()
    {
        var forwarder = Start();
        ListIngressInTheLayersDevmap();
        using var sender = Sender(forwarder);

        await sender.SendAsync(3_000, seq => 16 + (int)(seq % 1400), burst: 300);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 3_000, "every datagram at the receivers");

        // A datagram whose checksums the rewrite got wrong would be dropped by the receiving kernel, so missing here.
        Assert.Equal(Enumerable.Range(0, 3_000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.All(_receivers, r => Assert.All(r.Sources, s => Assert.Equal(_bed.ClientAddress, s.Address)));
        var stats = forwarder.ReadStats();
        Assert.Equal((3_000L, 3_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(3_000, Counter(stats, "tc_xdp_forwarded_total"));
    }

    /// <summary>
    /// A device that refuses XDP_TX frames (here a veth whose peer takes no XDP frames at all: veth_xdp_xmit refuses
    /// the queue, xdp:xdp_bulk_tx reports it) loses them after the program returned: each is counted as
    /// xdp_transmit_failed, not forwarded.
    /// </summary>
    [Fact]
    public async Task Forward_TheDeviceRefusesXdpTxFrames_EachCountedAsXdpTransmitFailedAndTheIdentityHolds()
    {
        var forwarder = Start();
        using var sender = Sender(forwarder);
        await sender.SendAsync(100, _ => 64, burst: 100);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) == 100, "the first datagrams at the receivers");
        SetBridgePortXdp(attached: false);
        ListIngressInTheLayersDevmap();

        using var client = ClientSocket();
        for (var seq = 100; seq < 200; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(_bed.ProxyAddress, ListenPort));
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Dropped[(int)DropReason.XdpTransmitFailed] == 100, "100 transmit failures counted");

        var stats = forwarder.ReadStats();
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.Equal((200L, 100L, 100L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        // The first hundred through the tc program, as on any veth; the others sent with XDP_TX and lost.
        Assert.Equal((0L, 100L), (Counter(stats, "tc_xdp_forwarded_total"), Counter(stats, "tc_xdp_passed_total", "egress_without_xdp")));
    }

    private TcEbpfForwarder Start()
    {
        var listener = new ListenerConfig
        {
            Name = "segment",
            Bind = new IPEndPoint(_bed.ProxyAddress, ListenPort),
            Mode = ForwardingMode.TcEbpf,
            Interface = _bed.ProxyIngress,
            // On a veth the layer runs only when asked for.
            Xdp = XdpLayer.On,
        };
        var downstreams = Enumerable.Range(0, 3).Select(i => new Downstream($"s{i}", new IPEndPoint(_bed.DownstreamAddress(i), 6000 + i))).ToArray();
        _forwarder = _bed.Proxy.Invoke(() =>
        {
            var forwarder = new TcEbpfForwarder(listener, new LoggerFactory([new RecordingLoggerProvider(_log)]), FileDescriptorStores.None());
            forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        Assert.NotNull(_forwarder.XdpLayer);
        return _forwarder;
    }

    /// <summary>An XDP program that passes everything (an empty chain's root) on the bridge's end of the proxy's link, or none.</summary>
    private void SetBridgePortXdp(bool attached) => _bed.Bridge.Exec(attached
        ? $"ip link set dev {_bed.Id}bp xdpdrv obj {BpfObjectLocator.Find("xdp_chain.bpf.o")} sec xdp"
        : $"ip link set dev {_bed.Id}bp xdpdrv off");

    private Socket ClientSocket() => _bed.Client.Invoke(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(_bed.ClientAddress, 0));
        return socket;
    });

    private PacedSender Sender(TcEbpfForwarder forwarder) =>
        new(ClientSocket(), new IPEndPoint(_bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

    /// <summary>
    /// Lists the proxy's interface in the layer's devmap of egresses, which the layer reads as "XDP_TX works here";
    /// the map is found from the outside: the program in the interface's XDP slot, its chain (the prog array), the
    /// layer's program in it, and that program's maps.
    /// </summary>
    private void ListIngressInTheLayersDevmap()
    {
        var root = XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress)!.Value.ProgramId;
        var chain = MapsOf(root).Single(m => Json($"map show id {m}").GetProperty("type").GetString() == "prog_array");
        var layers = Json($"map dump id {chain}").EnumerateArray().Select(e => ProgramId(e.GetProperty("value"))).ToArray();
        var egress = layers.SelectMany(MapsOf).Single(m => Json($"map show id {m}").GetProperty("name").GetString() == "xdp_egress");
        var ifindex = string.Join(' ', BitConverter.GetBytes(int.Parse(_bed.Proxy.Exec($"cat /sys/class/net/{_bed.ProxyIngress}/ifindex").Trim())));
        // A devmap resolves the index in the namespace of whoever writes it.
        _bed.Proxy.Exec($"bpftool map update id {egress} key {ifindex} value {ifindex}");
    }

    /// <summary>A prog array's value as bpftool dumps it: the program's id, as its bytes in hex, host order.</summary>
    private static uint ProgramId(JsonElement value) =>
        BitConverter.ToUInt32([.. value.EnumerateArray().Select(b => Convert.ToByte(b.GetString(), 16))]);

    private static uint[] MapsOf(uint program) =>
        [.. Json($"prog show id {program}").GetProperty("map_ids").EnumerateArray().Select(m => m.GetUInt32())];

    private static JsonElement Json(string bpftool)
    {
        using var document = JsonDocument.Parse(Shell.Run($"bpftool -j {bpftool}"));
        return document.RootElement.Clone();
    }

    private static long Counter(ListenerStats stats, string name, string? reason = null) =>
        stats.ModeCounters.Where(c => c.Name == name && (reason is null || c.Labels![0].Value == reason)).Sum(c => c.Value);
}
