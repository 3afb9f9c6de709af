using System.Net;
using System.Net.Sockets;
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
/// preserve_source over IPv6 for real, on a dual-stack network-namespace testbed with ordinary UDP sockets in the
/// downstream namespaces. IPv6 requires the UDP checksum and the receiving kernel drops a datagram whose checksum is
/// wrong or whose fragments do not reassemble, so every numbered datagram counted there, byte-exact, proves the
/// IPv6, fragment and UDP headers the raw sender wrote.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class RawSenderIpv6Tests : IDisposable
{
    private const int ListenPort = 5514;
    private readonly NetnsTestbed _bed = NetnsTestbed.Create("ui6", "10.197", downstreams: 3, ipv6: "fd97");
    private readonly List<CountingReceiver> _receivers = [];
    private IListenerForwarder? _forwarder;

    public void Dispose()
    {
        if (_forwarder is not null)
        {
            _bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        _receivers.ForEach(r => r.Dispose());
        _bed.Dispose();
    }

    [Theory]
    [InlineData("Userspace")]
    [InlineData("AfXdp")]
    [InlineData("TcEbpf")]
    public async Task Forward_Ipv6SmallMtuSizedAndFragmentedDatagrams_ReceiversSeeTheClientsAddressAndPortEachOnceByteExact(string modeName)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        Receivers(IPAddress.IPv6Any);
        var forwarder = Start(mode, new IPEndPoint(_bed.ProxyAddress6, ListenPort), Downstreams6(0, 1, 2));
        using var client = ClientSocket(_bed.ClientAddress6);

        // 64 bytes; 1452, an IPv6 packet of exactly the links' MTU of 1500; 4000, fragmented by the client,
        // reassembled at the proxy (the eBPF modes' fallback socket, which sends with the raw sender) and cut again.
        int[] lengths = [64, 1452, 4000];
        await SendAsync(client, new IPEndPoint(_bed.ProxyAddress6, ListenPort), 600, seq => lengths[seq % 3]);

        Assert.Equal(Enumerable.Range(0, 600).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.All(_receivers, r => Assert.Equal([(IPEndPoint)client.LocalEndPoint!], r.Sources));
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(0, SourceNotKept(stats));
        if (mode != ForwardingMode.Userspace)
        {
            // The 200 fragmented ones went up to the eBPF mode's fallback, whose raw sender cut them again.
            Assert.Equal(200, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        }
    }

    [Fact]
    public async Task Forward_Ipv6DownstreamLinkMtuBelowTheClients_DatagramsAreCutToItAndArriveWhole()
    {
        Receivers(IPAddress.IPv6Any);
        // The downstream's link takes 1280-byte packets at most, IPv6's minimum: 1452-byte datagrams are cut into
        // two fragments of at most 1280 bytes, 1232 (a 1280-byte packet) fits exactly.
        _bed.Proxy.Exec($"ip link set {_bed.Id}d0 mtu 1280");
        _bed.Downstreams[0].Exec($"ip link set {_bed.Id}s0 mtu 1280");
        var forwarder = Start(ForwardingMode.Userspace, new IPEndPoint(_bed.ProxyAddress6, ListenPort), Downstreams6(0));
        using var client = ClientSocket(_bed.ClientAddress6);

        await SendAsync(client, new IPEndPoint(_bed.ProxyAddress6, ListenPort), 300, seq => seq % 2 == 0 ? 1452 : 1232);

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal(0, _receivers[0].Corrupt);
        Assert.Equal([(IPEndPoint)client.LocalEndPoint!], _receivers[0].Sources);
        var stats = forwarder.ReadStats();
        Assert.Equal((300L, 300L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
    }

    [Fact]
    public async Task Forward_Ipv6DownstreamLinkMtuLoweredWhileRunning_TheRefusedDatagramIsFragmentedAndNoneIsLost()
    {
        Receivers(IPAddress.IPv6Any);
        var forwarder = Start(ForwardingMode.Userspace, new IPEndPoint(_bed.ProxyAddress6, ListenPort), Downstreams6(0));
        using var client = ClientSocket(_bed.ClientAddress6);
        var target = new IPEndPoint(_bed.ProxyAddress6, ListenPort);
        await SendAsync(client, target, 50, _ => 1452);

        // The sender asked the route's MTU (1500) for the first datagram and trusts it for a while: the next 1500-byte
        // packet is refused by the device (EMSGSIZE), which makes the sender ask again and cut it.
        _bed.Proxy.Exec($"ip link set {_bed.Id}d0 mtu 1280");
        _bed.Downstreams[0].Exec($"ip link set {_bed.Id}s0 mtu 1280");
        await SendAsync(client, target, 100, _ => 1452, first: 50);

        Assert.Equal(Enumerable.Range(0, 150).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal(0, _receivers[0].Corrupt);
        var stats = forwarder.ReadStats();
        Assert.Equal((150L, 150L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
    }

    [Theory]
    [InlineData("Userspace")]
    [InlineData("AfXdp")]
    public async Task Forward_DualStackListener_Ipv4ClientKeepsItsAddressAndAnIpv6ClientToAnIpv4DownstreamIsSentFromTheProxyAndCounted(string modeName)
    {
        var mode = Enum.Parse<ForwardingMode>(modeName);
        Receivers(IPAddress.Any);
        // [::] takes both families; the downstream is IPv4. The IPv4 client arrives as ::ffff:10.197.1.2 at the
        // userspace socket and must get an IPv4 header with its own address; the IPv6 client's address cannot go
        // into an IPv4 header, so its datagrams leave from the proxy's address, forwarded and counted as such.
        var forwarder = Start(mode, new IPEndPoint(IPAddress.IPv6Any, ListenPort), Downstreams(0));
        using var client4 = ClientSocket(_bed.ClientAddress);
        using var client6 = ClientSocket(_bed.ClientAddress6);

        await SendAsync(client4, new IPEndPoint(_bed.ProxyAddress, ListenPort), 100, seq => seq % 2 == 0 ? 64 : 4000);
        await SendAsync(client6, new IPEndPoint(_bed.ProxyAddress6, ListenPort), 100, seq => seq % 2 == 0 ? 64 : 4000, first: 100);

        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal(0, _receivers[0].Corrupt);
        var proxyOutside = IPAddress.Parse("10.197.11.1");
        Assert.Equal(new[] { _bed.ClientAddress, proxyOutside }.ToHashSet(), _receivers[0].Sources.Select(s => s.Address).ToHashSet());
        Assert.Contains((IPEndPoint)client4.LocalEndPoint!, _receivers[0].Sources);
        var stats = forwarder.ReadStats();
        Assert.Equal((200L, 200L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(100, SourceNotKept(stats));
    }

    [Fact]
    public async Task Forward_Ipv4ClientToAnIpv6Downstream_SentFromTheProxysIpv6AddressAndCounted()
    {
        Receivers(IPAddress.IPv6Any);
        var forwarder = Start(ForwardingMode.Userspace, new IPEndPoint(_bed.ProxyAddress, ListenPort), Downstreams6(0));
        using var client = ClientSocket(_bed.ClientAddress);

        await SendAsync(client, new IPEndPoint(_bed.ProxyAddress, ListenPort), 50, _ => 200);

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), _receivers[0].Sequences.Order());
        Assert.Equal([IPAddress.Parse("fd97:11::1")], _receivers[0].Sources.Select(s => s.Address).Distinct());
        var stats = forwarder.ReadStats();
        Assert.Equal((50L, 50L, 0L, 50L), (stats.Received, stats.Forwarded, stats.DroppedTotal, SourceNotKept(stats)));
    }

    private static long SourceNotKept(ListenerStats stats) => stats.ModeCounters.Where(c => c.Name == "source_not_kept_total").Sum(c => c.Value);

    private void Receivers(IPAddress any)
    {
        for (var i = 0; i < 3; i++)
        {
            _receivers.Add(_bed.Downstreams[i].Invoke(() => new CountingReceiver(any, 6000 + i)));
        }
    }

    private IListenerForwarder Start(ForwardingMode mode, IPEndPoint bind, Downstream[] downstreams)
    {
        var listener = new ListenerConfig
        {
            Name = "syslog",
            Bind = bind,
            Mode = mode,
            Interface = mode == ForwardingMode.Userspace ? null : _bed.ProxyIngress,
            PreserveSource = true,
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

    private Downstream[] Downstreams(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(_bed.DownstreamAddress(i), 6000 + i))).ToArray();

    private Downstream[] Downstreams6(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(_bed.DownstreamAddress6(i), 6000 + i))).ToArray();

    private Socket ClientSocket(IPAddress address) => _bed.Client.Invoke(() =>
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(address, 0));
        return socket;
    });

    /// <summary>Numbered datagrams in bursts of 50, each waiting for the receivers, so the test measures delivery, not overflow.</summary>
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
