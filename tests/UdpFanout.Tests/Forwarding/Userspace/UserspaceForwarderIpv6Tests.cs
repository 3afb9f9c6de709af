using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.Userspace;

/// <summary>
/// The userspace mode with both families at once, with real packets through a dual-stack testbed: the client, the
/// proxy and each downstream in namespaces of their own, joined by veth pairs. What each family does alone is in
/// UserspaceForwarderTests' theories over "IPv4" and "IPv6".
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class UserspaceForwarderIpv6Tests : IAsyncLifetime
{
    private const int ListenPort = 5514;
    private readonly NetnsTestbed _bed = NetnsTestbed.Create("u6c", "10.190", downstreams: 4, ipv6: "fd90");
    private readonly List<CountingReceiver> _receivers = [];
    private readonly List<IDisposable> _owned = [];
    private UserspaceForwarder? _forwarder;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            await _forwarder.DisposeAsync();
        }
        _receivers.ForEach(r => r.Dispose());
        _owned.ForEach(o => o.Dispose());
        _bed.Dispose();
    }

    /// <summary>
    /// A dual-stack listener on [::] takes IPv4 and IPv6 clients alike and round-robins every datagram over
    /// downstreams of both families, each sent from the socket of its downstream's family.
    /// </summary>
    [Fact]
    public async Task Forward_DualStackListener_Ipv4AndIpv6ClientsToDownstreamsOfBothFamilies_EachOnceAndSpreadWithinOne()
    {
        var downstreams = Receivers(ipv6: [false, true, false, true]);
        var forwarder = Start(Listener(new IPEndPoint(IPAddress.IPv6Any, ListenPort)), downstreams);
        var v4 = ClientSocket(AddressFamily.InterNetwork);
        var v6 = ClientSocket(AddressFamily.InterNetworkV6);
        var payload = new byte[200];

        for (long seq = 0; seq < 20_000; seq++)
        {
            var length = 16 + (int)(seq % 180);
            NumberedPayload.Write(payload.AsSpan(0, length), seq);
            // A third from the IPv4 client: a period prime to the four downstreams', so each gets both families.
            if (seq % 3 == 0)
            {
                v4.SendTo(payload.AsSpan(0, length), SocketFlags.None, new IPEndPoint(_bed.ProxyAddress, ListenPort));
            }
            else
            {
                v6.SendTo(payload.AsSpan(0, length), SocketFlags.None, new IPEndPoint(_bed.ProxyAddress6, ListenPort));
            }
            if (seq % 1000 == 999)
            {
                var expected = seq + 1;
                await Eventually.TrueAsync(() => forwarder.ReadStats().Received >= expected, $"the proxy to receive {expected} datagrams");
            }
        }
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 20_000, "all datagrams to arrive");

        Assert.Equal(Enumerable.Range(0, 20_000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.Equal([5000, 5000, 5000, 5000], _receivers.Select(r => r.Count));
        // Each receiver saw both clients' datagrams, from the proxy's address of its own family.
        Assert.All(_receivers, r => Assert.Contains(r.Sequences, s => s % 3 == 0));
        Assert.All(_receivers, r => Assert.Contains(r.Sequences, s => s % 3 != 0));
        Assert.Equal([IPAddress.Parse("10.190.11.1"), IPAddress.Parse("fd90:12::1"), IPAddress.Parse("10.190.13.1"), IPAddress.Parse("fd90:14::1")],
            _receivers.Select(r => Assert.Single(r.Sources.Select(s => s.Address).Distinct())));
        var stats = forwarder.ReadStats();
        Assert.Equal((20_000L, 20_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
    }

    /// <summary>An IPv4 client of a listener on [::] arrives as ::ffff:a.b.c.d and is hashed as the IPv4 address it is.</summary>
    [Fact]
    public async Task Forward_DualStackSourceHash_EverySourceOfEitherFamilyAtItsPredictedDownstream()
    {
        var downstreams = Receivers(ipv6: [false, true, false, true]);
        Start(Listener(new IPEndPoint(IPAddress.IPv6Any, ListenPort)) with { Balance = BalancePolicy.SourceHash, HashKey = HashKey.SourceIpPort }, downstreams);
        var v4 = new ClientSources(_bed, addresses: 20);
        var v6 = new ClientSources(_bed, addresses: 20, ipv6: true);
        _owned.Add(v4);
        _owned.Add(v6);
        IPEndPoint[] sources = [.. v4.Take(200), .. v6.Take(200)];

        for (var k = 0; k < 5; k++)
        {
            v4.Send(sources[..200], i => i * 10L + k, new IPEndPoint(_bed.ProxyAddress, ListenPort));
            v6.Send(sources[200..], i => (200 + i) * 10L + k, new IPEndPoint(_bed.ProxyAddress6, ListenPort));
            var expected = (k + 1) * 400;
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers");
        }

        var predicted = new int[sources.Length];
        new MaglevPolicy(downstreams).Pick(sources.Select(s => SourceHash.Key(s, HashKey.SourceIpPort)).ToArray(), predicted);
        for (var r = 0; r < _receivers.Count; r++)
        {
            var bySource = _receivers[r].Sequences.GroupBy(seq => (int)(seq / 10)).ToArray();
            Assert.All(bySource, g => Assert.True(predicted[g.Key] == r, $"source {sources[g.Key]} at receiver {r}, predicted {predicted[g.Key]}"));
        }
        Assert.Equal(2000, _receivers.Sum(r => r.Count));
        Assert.All(_receivers, r => Assert.Contains(r.Sequences, s => s < 2000));
    }

    /// <summary>A datagram too large for an IPv4 downstream fails its send and counts as send_error; nothing else is lost.</summary>
    [Fact]
    public async Task Forward_65527BytesToAnIpv4Downstream_DroppedAsSendErrorAndAccounted()
    {
        var forwarder = Start(Listener(new IPEndPoint(IPAddress.IPv6Any, ListenPort)), Receivers(ipv6: [false]));
        using var client = Client(forwarder, new IPEndPoint(_bed.ProxyAddress6, ListenPort));

        await client.SendAsync(4, seq => seq % 2 == 0 ? ListenerConfig.MaxUdpPayload6 : ListenerConfig.MaxUdpPayload, burst: 1);

        await Eventually.TrueAsync(() => _receivers[0].Count == 2, "the two 65507-byte datagrams");
        var stats = forwarder.ReadStats();
        Assert.Equal([1L, 3L], _receivers[0].Sequences.Order());
        Assert.Equal((4L, 2L, 2L), (stats.Received, stats.Forwarded, stats.Dropped[(int)DropReason.SendError]));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
    }

    private static ListenerConfig Listener(IPEndPoint bind) => new() { Name = "v6", Bind = bind, Workers = 2 };

    private UserspaceForwarder Start(ListenerConfig listener, IEnumerable<Downstream> downstreams)
    {
        _forwarder = _bed.Proxy.Invoke(() =>
        {
            var forwarder = new UserspaceForwarder(listener, NullLogger.Instance, store: null);
            forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        return _forwarder;
    }

    /// <summary>A receiver in downstream namespace i for each entry, on its IPv6 or its IPv4 address, port 6000 + i.</summary>
    private Downstream[] Receivers(bool[] ipv6)
    {
        var result = new Downstream[ipv6.Length];
        for (var i = 0; i < ipv6.Length; i++)
        {
            var address = ipv6[i] ? _bed.DownstreamAddress6(i) : _bed.DownstreamAddress(i);
            var port = 6000 + i;
            var receiver = _bed.Downstreams[i].Invoke(() => new CountingReceiver(address, port));
            _receivers.Add(receiver);
            result[i] = new Downstream($"s{i}", receiver.Endpoint);
        }
        return result;
    }

    private Socket ClientSocket(AddressFamily family)
    {
        var socket = _bed.Client.Invoke(() => new Socket(family, SocketType.Dgram, ProtocolType.Udp));
        _owned.Add(socket);
        return socket;
    }

    private PacedSender Client(UserspaceForwarder forwarder, IPEndPoint target) =>
        new(_bed.Client.Invoke(() => new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp)), target, () => forwarder.ReadStats().Received);
}
