using System.Net;
using System.Net.Sockets;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding;

/// <summary>
/// What every eBPF mode must do over IPv6, with its program attached for real on the proxy of a dual-stack
/// network-namespace testbed and real packets counted by ordinary sockets at the receivers (so a datagram with a bad
/// checksum, which the receiving kernel drops silently, shows as missing): each mode's IPv6 test class inherits
/// these and adds its own.
/// </summary>
[Collection(KernelCollection.Name)]
public abstract class KernelForwarderIpv6Tests : IAsyncLifetime
{
    protected const int ListenPort = 5514;
    private protected readonly NetnsTestbed Bed;
    private protected readonly List<CountingReceiver> Receivers = [];
    private IListenerForwarder? _forwarder;

    protected KernelForwarderIpv6Tests(string prefix, int proxyRxQueues = 1) =>
        Bed = NetnsTestbed.Create(prefix, "10.191", downstreams: 3, proxyRxQueues: proxyRxQueues, ipv6: "fd91");

    private protected abstract ForwardingMode Mode { get; }

    private protected abstract IListenerForwarder Create(ListenerConfig listener);

    /// <summary>Datagrams the mode's program passed to the kernel, from its mode counters, by reason label.</summary>
    private protected abstract long PassedToStack(ListenerStats stats, string reason);

    public Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            Receivers.Add(Bed.Downstreams[i].Invoke(() => new CountingReceiver(IPAddress.IPv6Any, 6000 + i)));
        }
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            Bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        Receivers.ForEach(r => r.Dispose());
        Bed.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Forward_30kNumberedDatagramsOverIpv6_EachArrivesOnceByteExactAndSpread()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 30_000, seq => 16 + (int)(seq % 1400));

        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var counts = Receivers.Select(r => r.Count).ToArray();
        Assert.True(counts.Max() - counts.Min() <= 300, $"spread beyond 1%: {string.Join(",", counts)}");
        var stats = forwarder.ReadStats();
        Assert.Equal((30_000L, 30_000L), (stats.Received, stats.Forwarded));
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        foreach (var (receiver, i) in Receivers.Select((r, i) => (r, i)))
        {
            Assert.Equal(receiver.Count, stats.Downstreams.Single(d => d.Downstream.Name == $"s{i}").Packets);
        }
    }

    [Fact]
    public async Task Forward_8000ByteDatagramsFragmentedOnTheWire_ArriveWholeThroughTheFallback()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 30, _ => 8000, burst: 10);

        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((30L, 30L), (stats.Received, stats.Forwarded));
        // Only first fragments carry the UDP header the program matches; the rest pass without a look.
        Assert.Equal(30, PassedToStack(stats, "fragment"));
        Assert.Equal(30, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Forward_DatagramsWithADestinationOptionsHeader_GoThroughTheFallback()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();
        // A destination options header of 8 bytes holding one PadN option: the kernel puts it on every datagram.
        client.SetRawSocketOption(IPPROTO_IPV6, IPV6_DSTOPTS, new byte[] { 0, 0, 1, 4, 0, 0, 0, 0 });

        await SendPacedAsync(client, 50, _ => 64, burst: 10);

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((50L, 50L), (stats.Received, stats.Forwarded));
        Assert.Equal(50, PassedToStack(stats, "extension_header"));
        Assert.Equal(50, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Start_NeighbourDiscoveryFromTheClient_IsStillAnswered()
    {
        var forwarder = Start(Downstreams(0));
        Bed.Client.Exec("ip -6 neigh flush all");

        var ping = Bed.Client.TryExec($"ping -6 -c 2 -W 2 {Bed.ProxyAddress6}");
        using var client = ClientSocket();
        await SendPacedAsync(client, 10, _ => 64, burst: 10);

        Assert.True(ping.Code == 0, ping.Output);
        Assert.Contains("lladdr", Bed.Client.Exec($"ip -6 neigh show {Bed.ProxyAddress6}"));
        Assert.Equal(10, forwarder.ReadStats().Forwarded);
    }

    [Fact]
    public async Task Daemon_Ipv6ListenerAndDownstreamsInTheConfig_AcceptedAndForwarded()
    {
        var downstreams = string.Concat(Enumerable.Range(0, 3).Select(i => $"\n      - {{ name: s{i}, address: \"[{Bed.DownstreamAddress6(i)}]:{6000 + i}\" }}"));
        using var config = new TempConfig($$"""
            listeners:
              - name: kernel6
                bind: "[{{Bed.ProxyAddress6}}]:{{ListenPort}}"
                mode: {{Mode.YamlName()}}
                interface: {{Bed.ProxyIngress}}
                downstream:{{downstreams}}
            metrics: { enabled: false }
            """);
        using var daemon = new DaemonProcess(config.Path, Bed.Proxy);
        daemon.WaitReady();
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress6, ListenPort), () => Receivers.Sum(r => r.Count));

        await client.SendAsync(300, _ => 64, burst: 300);

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.InRange(r.Count, 50, 150));
        Assert.DoesNotContain("fail:", daemon.Output);
    }

    private const int IPPROTO_IPV6 = 41;
    private const int IPV6_DSTOPTS = 59;

    private protected IListenerForwarder Start(Downstream[] downstreams, ListenerConfig? listener = null)
    {
        _forwarder = Bed.Proxy.Invoke(() =>
        {
            var forwarder = Create(listener ?? Listener());
            forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        return _forwarder;
    }

    private protected ListenerConfig Listener(IPAddress? bind = null) => new()
    {
        Name = "kernel6",
        Bind = new IPEndPoint(bind ?? Bed.ProxyAddress6, ListenPort),
        Mode = Mode,
        Interface = Bed.ProxyIngress,
    };

    /// <summary>IPv6 downstreams on the testbed's receivers.</summary>
    private protected Downstream[] Downstreams(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(Bed.DownstreamAddress6(i), 6000 + i))).ToArray();

    /// <summary>An IPv6 client socket (or IPv4 with <paramref name="ipv4"/>) in the client namespace.</summary>
    protected Socket ClientSocket(bool ipv4 = false) => Bed.Client.Invoke(() =>
    {
        var socket = new Socket(ipv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(ipv4 ? Bed.ClientAddress : Bed.ClientAddress6, 0));
        return socket;
    });

    /// <summary>Sends in bursts, each waiting for the receivers to catch up, so the test measures delivery, not overflow.</summary>
    protected async Task SendPacedAsync(Socket client, long count, Func<long, int> lengthOf, int burst = 1000, long first = 0, IPAddress? to = null)
    {
        var target = new IPEndPoint(to ?? Bed.ProxyAddress6, ListenPort);
        var buffer = new byte[65507];
        var start = Receivers.Sum(r => r.Count);
        for (var seq = first; seq < first + count;)
        {
            var end = Math.Min(first + count, seq + burst);
            for (; seq < end; seq++)
            {
                var payload = buffer.AsSpan(0, lengthOf(seq));
                NumberedPayload.Write(payload, seq);
                client.SendTo(payload, SocketFlags.None, target);
            }
            var expected = start + end - first;
            await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers");
        }
    }
}
