using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.RawSend;

/// <summary>
/// preserve_source for real: each mode's forwarder on the proxy of a dual-stack network-namespace testbed, ordinary
/// UDP sockets in the downstream namespaces. A receiving kernel drops a datagram whose IP or UDP checksum is wrong
/// (IPv6 requires the UDP checksum), or whose fragments do not reassemble, so every numbered datagram counted there,
/// byte-exact, proves the IPv4, IPv6, fragment and UDP headers the raw sender wrote. The downstreams route back to
/// the client through the proxy (the testbed's default route), so their reverse-path filter accepts the client's
/// address. The cases the same in both families are theories over "IPv4" and "IPv6"; the mixed ones follow.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class RawSenderTests : IDisposable
{
    private const int ListenPort = 5514;
    private readonly NetnsTestbed _bed = NetnsTestbed.Create("upr", "10.192", downstreams: 3, ipv6: "fd97");
    private readonly List<CountingReceiver> _receivers = [];
    private IListenerForwarder? _forwarder;
    private bool _ipv6;

    public void Dispose()
    {
        if (_forwarder is not null)
        {
            _bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        _receivers.ForEach(r => r.Dispose());
        _bed.Dispose();
    }

    public static TheoryData<string, string> EveryModeInBothFamilies() => new()
    {
        { "Userspace", "IPv4" },
        { "Userspace", "IPv6" },
        { "AfXdp", "IPv4" },
        { "AfXdp", "IPv6" },
        { "TcEbpf", "IPv4" },
        { "TcEbpf", "IPv6" },
    };

    [Theory]
    [MemberData(nameof(EveryModeInBothFamilies))]
    public async Task Forward_SmallMtuSizedAndFragmentedDatagrams_ReceiversSeeTheClientsAddressAndPortEachOnceByteExact(string modeName, string family)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        UseFamily(family);
        var forwarder = Start(mode, Downstreams(0, 1, 2));
        using var client = ClientSocket();

        // 64 bytes; 1472 (IPv4) or 1452 (IPv6), a packet of exactly the links' MTU of 1500; 4000, fragmented on the
        // wire by the client, reassembled at the proxy (the eBPF modes' fallback socket, which sends with the raw
        // sender) and cut again on the way out.
        int[] lengths = [64, MtuSized(1500), 4000];
        await SendAsync(client, 600, seq => lengths[seq % 3]);

        Assert.Equal(Enumerable.Range(0, 600).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.All(_receivers, r => Assert.Equal([(IPEndPoint)client.LocalEndPoint!], r.Sources));
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(_receivers.Select(r => (long)r.Count), stats.Downstreams.OrderBy(d => d.Downstream.Name).Select(d => d.Packets));
        Assert.Equal(0, SourceNotKept(stats));
        if (mode != ForwardingMode.Userspace)
        {
            // The 200 fragmented ones went up to the eBPF mode's fallback, whose raw sender cut them again.
            Assert.Equal(200, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        }
    }

    [Theory]
    [MemberData(nameof(EveryModeInBothFamilies))]
    public async Task Forward_DownstreamLinkMtuBelowTheClients_FullSizedDatagramsAreFragmentedToItAndArriveWhole(string modeName, string family)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        UseFamily(family);
        // The client's link carries 1500-byte packets whole; the downstream's takes 1400 at most (IPv4) or 1280,
        // IPv6's minimum: every other datagram, MTU-sized for the client's link, must be cut on the way out, the
        // rest, MTU-sized for the downstream's, fits exactly.
        var mtu = _ipv6 ? 1280 : 1400;
        _bed.Proxy.Exec($"ip link set {_bed.Id}d0 mtu {mtu}");
        _bed.Downstreams[0].Exec($"ip link set {_bed.Id}s0 mtu {mtu}");
        var forwarder = Start(mode, Downstreams(0));
        using var client = ClientSocket();

        await SendAsync(client, 300, seq => seq % 2 == 0 ? MtuSized(1500) : MtuSized(mtu));

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal(0, _receivers[0].Corrupt);
        Assert.Equal([(IPEndPoint)client.LocalEndPoint!], _receivers[0].Sources);
        var stats = forwarder.ReadStats();
        Assert.Equal((300L, 300L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        if (mode == ForwardingMode.TcEbpf)
        {
            // Too large for the egress link, so the program passed them up to the fallback, which kept the source.
            Assert.Equal(150, stats.ModeCounters.Single(c => c.Name == "tc_passed_to_stack_total" && c.Labels![0].Value == "frag_needed").Value);
        }
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task Forward_DownstreamLinkMtuLoweredWhileRunning_TheRefusedDatagramIsFragmentedAndNoneIsLost(string family)
    {
        UseFamily(family);
        var forwarder = Start(ForwardingMode.Userspace, Downstreams(0));
        using var client = ClientSocket();
        await SendAsync(client, 50, _ => MtuSized(1500));

        // The sender asked the route's MTU (1500) for the first datagram and trusts it for a while: the next 1500-byte
        // packet is refused by the device (EMSGSIZE), which makes the sender ask again and cut it.
        var mtu = _ipv6 ? 1280 : 1400;
        _bed.Proxy.Exec($"ip link set {_bed.Id}d0 mtu {mtu}");
        _bed.Downstreams[0].Exec($"ip link set {_bed.Id}s0 mtu {mtu}");
        await SendAsync(client, 100, _ => MtuSized(1500), first: 50);

        Assert.Equal(Enumerable.Range(0, 150).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal(0, _receivers[0].Corrupt);
        var stats = forwarder.ReadStats();
        Assert.Equal((150L, 150L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
    }

    [Theory]
    [InlineData("Userspace")]
    [InlineData("AfXdp")]
    public async Task Forward_OneDownstreamUnroutable_ItsShareCountsAsSendErrorAndTheRestArrive(string modeName)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        UseFamily("IPv4");
        // The proxy has no route there: the raw socket refuses each datagram for it.
        var unroutable = new Downstream("unroutable", new IPEndPoint(IPAddress.Parse("10.240.99.1"), 6000));
        var forwarder = Start(mode, [Downstreams(0)[0], unroutable]);
        using var client = ClientSocket();
        var target = new IPEndPoint(_bed.ProxyAddress, ListenPort);

        for (var seq = 0; seq < 200; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, seq % 4 == 0 ? 4000 : 200), target);
        }

        await Eventually.TrueAsync(() => forwarder.ReadStats() is var s && s.Received == 200 && s.Forwarded + s.DroppedTotal == 200, "every datagram forwarded or dropped");
        var stats = forwarder.ReadStats();
        await Eventually.TrueAsync(() => _receivers[0].Count == stats.Forwarded, "the routable downstream's share at its receiver");
        Assert.Equal((100L, 100L), (stats.Forwarded, stats.Dropped[(int)DropReason.SendError]));
        Assert.Equal(100, _receivers[0].Sequences.Distinct().Count());
    }

    [Fact]
    public async Task Forward_WithoutPreserveSource_ReceiversSeeTheProxy()
    {
        UseFamily("IPv4");
        Start(ForwardingMode.Userspace, Downstreams(0), preserveSource: false);
        using var client = ClientSocket();

        await SendAsync(client, 10, _ => 4000);

        Assert.Equal([new IPEndPoint(_bed.ProxyAddress, 0).Address], _receivers[0].Sources.Select(s => s.Address).Distinct());
    }

    [Fact]
    public async Task Daemon_ReloadTurnsPreserveSourceOnUnderSourceHashAndHealthChecks_FromThenOnReceiversSeeTheClient()
    {
        UseFamily("IPv4");
        string Config(bool preserve) => $$"""
            listeners:
              - name: preserve
                bind: "{{_bed.ProxyAddress}}:{{ListenPort}}"
                balance: source_hash
                hash_key: source_ip_port
                preserve_source: {{(preserve ? "true" : "false")}}
                downstream:{{string.Concat(Enumerable.Range(0, 3).Select(i => $"\n      - {{ name: s{i}, address: \"{_bed.DownstreamAddress(i)}:{6000 + i}\" }}"))}}
            health: { enabled: true, protocol: icmp, interval_secs: 0.5, timeout_secs: 0.2 }
            metrics: { enabled: false }
            """;
        using var config = new TempConfig(Config(false));
        using var daemon = new DaemonProcess(config.Path, _bed.Proxy);
        daemon.WaitReady();
        using var client = ClientSocket();
        var clientEndpoint = (IPEndPoint)client.LocalEndPoint!;
        using var sender = new PacedSender(client, new IPEndPoint(_bed.ProxyAddress, ListenPort), () => _receivers.Sum(r => r.Count));
        await sender.SendAsync(100, seq => seq % 2 == 0 ? 64 : 4000, burst: 50);
        var before = _receivers.Single(r => r.Count > 0);

        config.Write(Config(true));
        daemon.Signal(DaemonProcess.SIGHUP);
        await daemon.WaitForOutputAsync("reload applied");
        await sender.SendAsync(100, seq => seq % 2 == 0 ? 64 : 4000, burst: 50);

        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        // One source, one downstream, before and after: the sender changed, the policy's choice did not.
        Assert.Same(before, _receivers.Single(r => r.Count > 0));
        // The userspace mode's own sender binds the listener's address.
        Assert.Equal([_bed.ProxyAddress.ToString(), clientEndpoint.ToString()], before.Sources.Select(s => s.Port == clientEndpoint.Port ? s.ToString() : s.Address.ToString()).Order());
        Assert.DoesNotContain("fail:", daemon.Output);
    }

    [Theory]
    [InlineData("Userspace")]
    [InlineData("AfXdp")]
    public async Task Forward_DualStackListener_Ipv4ClientKeepsItsAddressAndAnIpv6ClientToAnIpv4DownstreamIsSentFromTheProxyAndCounted(string modeName)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        UseFamily("IPv4");
        // [::] takes both families; the downstream is IPv4. The IPv4 client arrives as ::ffff:10.192.1.2 at the
        // userspace socket and must get an IPv4 header with its own address; the IPv6 client's address cannot go
        // into an IPv4 header, so its datagrams leave from the proxy's address, forwarded and counted as such.
        var forwarder = Start(mode, Downstreams(0), bind: IPAddress.IPv6Any);
        using var client4 = ClientSocket(_bed.ClientAddress);
        using var client6 = ClientSocket(_bed.ClientAddress6);

        await SendAsync(client4, new IPEndPoint(_bed.ProxyAddress, ListenPort), 100, seq => seq % 2 == 0 ? 64 : 4000);
        await SendAsync(client6, new IPEndPoint(_bed.ProxyAddress6, ListenPort), 100, seq => seq % 2 == 0 ? 64 : 4000, first: 100);

        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal(0, _receivers[0].Corrupt);
        var proxyOutside = IPAddress.Parse($"{_bed.Network}.11.1");
        Assert.Equal(new[] { _bed.ClientAddress, proxyOutside }.ToHashSet(), _receivers[0].Sources.Select(s => s.Address).ToHashSet());
        Assert.Contains((IPEndPoint)client4.LocalEndPoint!, _receivers[0].Sources);
        var stats = forwarder.ReadStats();
        Assert.Equal((200L, 200L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(100, SourceNotKept(stats));
    }

    [Fact]
    public async Task Forward_Ipv4ClientToAnIpv6Downstream_SentFromTheProxysIpv6AddressAndCounted()
    {
        UseFamily("IPv6");
        var forwarder = Start(ForwardingMode.Userspace, Downstreams(0), bind: _bed.ProxyAddress);
        using var client = ClientSocket(_bed.ClientAddress);

        await SendAsync(client, new IPEndPoint(_bed.ProxyAddress, ListenPort), 50, _ => 200);

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal([IPAddress.Parse($"{_bed.Ipv6Network}:11::1")], _receivers[0].Sources.Select(s => s.Address).Distinct());
        var stats = forwarder.ReadStats();
        Assert.Equal((50L, 50L, 0L, 50L), (stats.Received, stats.Forwarded, stats.DroppedTotal, SourceNotKept(stats)));
    }

    private static long SourceNotKept(ListenerStats stats) => stats.ModeCounters.Where(c => c.Name == "source_not_kept_total").Sum(c => c.Value);

    /// <summary>
    /// The first step of every test: a receiver on each downstream, port 6000 + i, on the side of the dual-stack
    /// testbed that <paramref name="family"/> ("IPv4" or "IPv6") names, where the helpers below then put the
    /// listener, the downstreams and the client.
    /// </summary>
    private void UseFamily(string family)
    {
        _ipv6 = family switch { "IPv4" => false, "IPv6" => true, _ => throw new ArgumentOutOfRangeException(nameof(family), family, "IPv4 or IPv6") };
        for (var i = 0; i < 3; i++)
        {
            _receivers.Add(_bed.Downstreams[i].Invoke(() => new CountingReceiver(_ipv6 ? IPAddress.IPv6Any : IPAddress.Any, 6000 + i)));
        }
    }

    /// <summary>The largest UDP payload whose packet fits <paramref name="mtu"/> whole in the test's family (IPv6's header is 20 bytes longer).</summary>
    private int MtuSized(int mtu) => mtu - (_ipv6 ? 40 : 20) - 8;

    private IListenerForwarder Start(ForwardingMode mode, Downstream[] downstreams, bool preserveSource = true, IPAddress? bind = null)
    {
        var listener = new ListenerConfig
        {
            Name = "preserve",
            Bind = new IPEndPoint(bind ?? ProxyAddress, ListenPort),
            Mode = mode,
            Interface = mode == ForwardingMode.Userspace ? null : _bed.ProxyIngress,
            // tc_ebpf keeps the client's address whatever this says, and the config refuses false there.
            PreserveSource = preserveSource,
        };
        var loggers = NullLoggerFactory.Instance;
        _forwarder = _bed.Proxy.Invoke(() =>
        {
            IListenerForwarder forwarder = mode switch
            {
                ForwardingMode.Userspace => new UserspaceForwarder(listener, NullLogger.Instance, null),
                ForwardingMode.AfXdp => new AfXdpForwarder(listener, loggers, FileDescriptorStores.None()),
                _ => new TcEbpfForwarder(listener, loggers, FileDescriptorStores.None()),
            };
            forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        return _forwarder;
    }

    private IPAddress ProxyAddress => _ipv6 ? _bed.ProxyAddress6 : _bed.ProxyAddress;

    /// <summary>Downstreams on the receivers, in the test's family.</summary>
    private Downstream[] Downstreams(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(_ipv6 ? _bed.DownstreamAddress6(i) : _bed.DownstreamAddress(i), 6000 + i))).ToArray();

    /// <summary>A client socket bound to <paramref name="address"/>, or to the client's address in the test's family.</summary>
    private Socket ClientSocket(IPAddress? address = null) => _bed.Client.Invoke(() =>
    {
        address ??= _ipv6 ? _bed.ClientAddress6 : _bed.ClientAddress;
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(address, 0));
        return socket;
    });

    /// <summary>Numbered datagrams in bursts of 50, each waiting for the receivers, so the test measures delivery, not overflow.</summary>
    private Task SendAsync(Socket client, int count, Func<long, int> lengthOf, long first = 0) =>
        SendAsync(client, new IPEndPoint(ProxyAddress, ListenPort), count, lengthOf, first);

    /// <summary>The same, to <paramref name="target"/>.</summary>
    private async Task SendAsync(Socket client, IPEndPoint target, int count, Func<long, int> lengthOf, long first = 0)
    {
        for (var seq = first; seq < first + count;)
        {
            var end = Math.Min(first + count, seq + 50);
            for (; seq < end; seq++)
            {
                client.SendTo(NumberedPayload.Create(seq, lengthOf(seq)), target);
            }
            var expected = end;
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers");
        }
    }
}
