using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>The tc program attached for real on the proxy of a network-namespace testbed, with real packets.</summary>
[Collection(KernelCollection.Name)]
public sealed class TcEbpfForwarderTests : IAsyncLifetime
{
    private const int ListenPort = 5514;
    private readonly NetnsTestbed _bed = NetnsTestbed.Create("uft", "10.201", downstreams: 3);
    private readonly List<CountingReceiver> _receivers = [];
    private TcEbpfForwarder? _forwarder;

    public Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            _receivers.Add(_bed.Downstreams[i].Invoke(() => new CountingReceiver(IPAddress.Any, 6000 + i)));
        }
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

    [Fact]
    public async Task Forward_100kNumberedDatagramsFromOnePort_EachArrivesOnceByteExactFromTheClientsAddress()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 0, 100_000, seq => 16 + (int)(seq % 1400));

        var all = _receivers.SelectMany(r => r.Sequences).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 100_000).Select(i => (long)i), all);
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        var counts = _receivers.Select(r => r.Count).ToArray();
        Assert.True(counts.Max() - counts.Min() <= 1000, $"spread beyond 1%: {string.Join(",", counts)}");
        var clientEndpoint = (IPEndPoint)client.LocalEndPoint!;
        Assert.All(_receivers, r => Assert.Equal([new IPEndPoint(_bed.ClientAddress, clientEndpoint.Port)], r.Sources));
        var stats = forwarder.ReadStats();
        Assert.Equal(100_000, stats.Forwarded);
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        foreach (var (receiver, i) in _receivers.Select((r, i) => (r, i)))
        {
            Assert.Equal(receiver.Count, stats.Downstreams.Single(d => d.Downstream.Name == $"s{i}").Packets);
        }
    }

    [Fact]
    public async Task Forward_8000ByteDatagramsFragmentedOnTheWire_ArriveWholeThroughTheFallback()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 0, 30, _ => 8000, burst: 10);

        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal(30, stats.Forwarded);
        // Only first fragments carry the UDP header the program matches; the rest pass without a look.
        Assert.Equal(30, stats.ModeCounters.Single(c => c.Labels![0].Value == "fragment").Value);
    }

    [Fact]
    public async Task Start_OtherTrafficToTheProxy_StillReachesItsStack()
    {
        Start(Downstreams(0));
        using var other = _bed.Proxy.Invoke(() => new CountingReceiver(IPAddress.Any, 7777));
        _bed.Client.Exec("ip neigh flush all");

        var ping = _bed.Client.TryExec($"ping -c 2 -W 2 {_bed.ProxyAddress}");
        using var client = ClientSocket();
        client.SendTo(NumberedPayload.Create(42, 64), new IPEndPoint(_bed.ProxyAddress, 7777));

        Assert.True(ping.Code == 0, ping.Output);
        Assert.Contains("lladdr", _bed.Client.Exec($"ip neigh show {_bed.ProxyAddress}"));
        await Eventually.TrueAsync(() => other.Count == 1, "a datagram to another port to reach the proxy's own socket");
        Assert.Equal(0, _receivers[0].Count);
    }

    [Fact]
    public async Task UpdateDownstreams_WhileTrafficFlows_RemovedDownstreamGetsNothingSentAfterItReturns()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();
        long sent = 0;
        using var stop = new CancellationTokenSource();
        var target = new IPEndPoint(_bed.ProxyAddress, ListenPort);
        var traffic = Task.Run(() =>
        {
            var payload = new byte[64];
            while (!stop.IsCancellationRequested)
            {
                NumberedPayload.Write(payload, sent);
                client.SendTo(payload, target);
                Volatile.Write(ref sent, sent + 1);
                if (sent % 32 == 0)
                {
                    Thread.Sleep(0);
                }
            }
        });
        await Eventually.TrueAsync(() => _receivers[2].Count > 1000, "traffic at the third downstream");

        _bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new DownstreamSet(Downstreams(0, 1))));
        var sentWhenUpdateReturned = Volatile.Read(ref sent);
        await Eventually.TrueAsync(() => _receivers[0].Count + _receivers[1].Count > sentWhenUpdateReturned * 2 / 3 + 10_000, "traffic after the update");
        stop.Cancel();
        await traffic;

        Assert.All(_receivers[2].Sequences, seq => Assert.True(seq < sentWhenUpdateReturned, $"datagram {seq}, sent after the update returned, reached the removed downstream"));
        Assert.Contains(_receivers[1].Sequences, seq => seq > sentWhenUpdateReturned);
    }

    [Fact]
    public void Dispose_DetachesAndRemovesTheQdiscItCreated()
    {
        Start(Downstreams(0));
        Assert.Contains("tc_fanout", _bed.Proxy.Exec($"tc filter show dev {_bed.ProxyIngress} ingress"));

        _bed.Proxy.Invoke(() => _forwarder!.DisposeAsync().AsTask().GetAwaiter().GetResult());
        _forwarder = null;

        Assert.DoesNotContain("tc_fanout", _bed.Proxy.Exec($"tc filter show dev {_bed.ProxyIngress} ingress"));
        Assert.DoesNotContain("clsact", _bed.Proxy.Exec($"tc qdisc show dev {_bed.ProxyIngress}"));
    }

    [Fact]
    public void Start_AfterACrashLeftAProgramAttached_ReplacesItInsteadOfStacking()
    {
        var crashed = Start(Downstreams(0));
        var second = _bed.Proxy.Invoke(() =>
        {
            var f = new TcEbpfForwarder(Listener(), NullLoggerFactory.Instance);
            f.StartAsync(new DownstreamSet(Downstreams(1)), CancellationToken.None).GetAwaiter().GetResult();
            return f;
        });

        var filters = _bed.Proxy.Exec($"tc filter show dev {_bed.ProxyIngress} ingress");
        _bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());

        Assert.Single(filters.Split('\n'), line => line.Contains("tc_fanout"));
        Assert.NotNull(crashed);
    }

    [Fact]
    public void Start_MissingInterface_SaysWhichAndWhatToDo()
    {
        var forwarder = new TcEbpfForwarder(Listener() with { Interface = "nosuch0" }, NullLoggerFactory.Instance);

        var error = Assert.Throws<InvalidOperationException>(() => _bed.Proxy.Invoke(() =>
            forwarder.StartAsync(DownstreamSet.Empty, CancellationToken.None).GetAwaiter().GetResult()));

        Assert.IsType<ForwarderException>(error.InnerException);
        Assert.Equal("listener 'tc': interface nosuch0 does not exist (`ip link` lists the interfaces; fix interface: in the config)", error.InnerException!.Message);
    }

    private TcEbpfForwarder Start(Downstream[] downstreams)
    {
        _forwarder = _bed.Proxy.Invoke(() =>
        {
            var forwarder = new TcEbpfForwarder(Listener(), NullLoggerFactory.Instance);
            forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        return _forwarder;
    }

    private ListenerConfig Listener() => new()
    {
        Name = "tc",
        Bind = new IPEndPoint(_bed.ProxyAddress, ListenPort),
        Mode = ForwardingMode.TcEbpf,
        Interface = _bed.ProxyIngress,
    };

    private Downstream[] Downstreams(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(_bed.DownstreamAddress(i), 6000 + i))).ToArray();

    private Socket ClientSocket() => _bed.Client.Invoke(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(_bed.ClientAddress, 0));
        return socket;
    });

    private static string Describe(ListenerStats s) =>
        $"received {s.Received}, forwarded {s.Forwarded}, dropped [{string.Join(",", s.Dropped)}], {string.Join(", ", s.ModeCounters.Select(c => $"{c.Labels![0].Value}={c.Value}"))}";

    /// <summary>Sends in bursts, each waiting for the receivers to catch up, so the test measures delivery, not overflow.</summary>
    private async Task SendPacedAsync(Socket client, long first, long count, Func<long, int> lengthOf, int burst = 1000)
    {
        var target = new IPEndPoint(_bed.ProxyAddress, ListenPort);
        var buffer = new byte[65507];
        for (var seq = first; seq < first + count;)
        {
            var end = Math.Min(first + count, seq + burst);
            for (; seq < end; seq++)
            {
                var payload = buffer.AsSpan(0, lengthOf(seq));
                NumberedPayload.Write(payload, seq);
                client.SendTo(payload, SocketFlags.None, target);
            }
            var expected = end - first;
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers; forwarder: {Describe(_forwarder!.ReadStats())}");
        }
    }
}
