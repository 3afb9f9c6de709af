using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;
using static Interop.Fanout;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The tc program's route cache with real packets: routing changes made under it (a route moved, an MTU lowered,
/// forwarding turned off, the route gone) decide where datagrams go exactly as without a cache, once the daemon has
/// read the kernel's notification; and where a route may depend on more than the destination (a policy rule, a
/// multipath route) every datagram is looked up. The epochs move on only on notifications here (their periodic
/// renewal is set to an hour), so each test proves the notification was followed.
/// <code>
///  cli (10.188.1.2, fd88:1::2) -- proxy -- s0 and s1, each with the service address 10.188.200.1 / fd88:200::1 on lo
/// </code>
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class RouteCacheEpochsTests : IDisposable
{
    private const int ListenPort = 5514;
    private const int ServicePort = 6000;
    private readonly NetnsTestbed _bed = NetnsTestbed.Create("kg", "10.188", downstreams: 2, ipv6: "fd88");
    private readonly List<CountingReceiver> _receivers = [];
    private TcEbpfForwarder? _forwarder;
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

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task RouteReplacedUnderTraffic_DatagramsFollowTheNewRoute(string family)
    {
        Start(family);
        using var client = ClientSocket();
        await SendAsync(client, 0, 200);
        Assert.Equal((200, 0), (_receivers[0].Count, _receivers[1].Count));
        Assert.Contains(Program.CachedRoutes(Service), r => r.epoch == Epoch && r.resolved == 1);

        var before = Epoch;
        _bed.Proxy.Exec($"{Ip} route replace {ServiceAddress} via {Gateway(1)}");
        await Eventually.TrueAsync(() => Epoch != before, "the epoch moved on after the route changed");
        await SendAsync(client, 200, 200);

        Assert.Equal((200, 200), (_receivers[0].Count, _receivers[1].Count));
        Assert.Equal(Enumerable.Range(200, 200).Select(i => (long)i), _receivers[1].Sequences.Order());
        AssertAccounted(400, forwardedInKernel: 400);
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task EgressMtuLowered_BigDatagramsTakeTheFallbackAndArriveWhole(string family)
    {
        Start(family);
        using var client = ClientSocket();
        await SendAsync(client, 0, 50);

        var before = Epoch;
        _bed.Proxy.Exec($"ip link set {_bed.Id}d0 mtu 1280");
        await Eventually.TrueAsync(() => Epoch != before, "the epoch moved on after the MTU changed");
        await SendAsync(client, 50, 20, length: 1400);
        await SendAsync(client, 70, 30);

        Assert.Equal(100, _receivers[0].Count);
        Assert.Equal(0, _receivers[0].Corrupt);
        Assert.Equal(20, PassedToStack("frag_needed"));
        Assert.Contains(Program.CachedRoutes(Service), r => r.epoch == Epoch && r.mtu == 1280);
        AssertAccounted(100, forwardedInKernel: 80);
    }

    [Theory]
    [InlineData("IPv4", "net.ipv4.conf.{0}.forwarding")]
    [InlineData("IPv6", "net.ipv6.conf.{0}.forwarding")]
    public async Task ForwardingTurnedOffAndOn_TheFallbackForwardsMeanwhile(string family, string setting)
    {
        Start(family);
        using var client = ClientSocket();
        await SendAsync(client, 0, 50);

        var sysctl = string.Format(setting, _bed.ProxyIngress);
        var before = Epoch;
        _bed.Proxy.Exec($"sysctl -qw {sysctl}=0");
        await Eventually.TrueAsync(() => Epoch != before, "the epoch moved on after forwarding was turned off");
        await SendAsync(client, 50, 50);
        before = Epoch;
        _bed.Proxy.Exec($"sysctl -qw {sysctl}=1");
        await Eventually.TrueAsync(() => Epoch != before, "the epoch moved on after forwarding was turned on");
        await SendAsync(client, 100, 50);

        Assert.Equal(150, _receivers[0].Count);
        Assert.Equal(50, PassedToStack("forwarding_disabled"));
        AssertAccounted(150, forwardedInKernel: 100);
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task RouteDeleted_DatagramsAreDroppedAsNoRoute(string family)
    {
        Start(family);
        using var client = ClientSocket();
        await SendAsync(client, 0, 50);

        var before = Epoch;
        _bed.Proxy.Exec($"{Ip} route del {ServiceAddress}");
        await Eventually.TrueAsync(() => Epoch != before, "the epoch moved on after the route went");
        SendUnpaced(client, 50, 20);

        await Eventually.TrueAsync(() => Stats().Dropped[(int)DropReason.NoRoute] == 20, "20 datagrams dropped for want of a route");
        Assert.Equal(50, _receivers[0].Count);
        AssertAccounted(70, forwardedInKernel: 50);
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task PolicyRule_EveryDatagramIsLookedUpAndTheRuleDecides(string family)
    {
        Start(family);
        _bed.Proxy.Exec($"{Ip} route add {ServiceAddress} via {Gateway(1)} table 100");
        using var client = ClientSocket();
        await SendAsync(client, 0, 50);
        Assert.NotEqual(0UL, Epoch);

        _bed.Proxy.Exec($"{Ip} rule add from {ClientAddress} lookup 100 pref 100");
        await Eventually.TrueAsync(() => Epoch == 0, "the family's cache off while a policy rule exists");
        Assert.NotEqual(0UL, _forwarder!.RouteCache!.Epoch(_ipv6 ? FANOUT_FAMILY_IPV4 : FANOUT_FAMILY_IPV6));
        await SendAsync(client, 50, 50);
        _bed.Proxy.Exec($"{Ip} rule del from {ClientAddress} lookup 100 pref 100");
        await Eventually.TrueAsync(() => Epoch != 0, "the family's cache on again once the rule went");
        await SendAsync(client, 100, 50);

        Assert.Equal(Enumerable.Range(50, 50).Select(i => (long)i), _receivers[1].Sequences.Order());
        Assert.Equal(100, _receivers[0].Count);
        AssertAccounted(150, forwardedInKernel: 150);
    }

    [Theory]
    [InlineData("IPv4", "multipath")]
    [InlineData("IPv6", "multipath")]
    [InlineData("IPv4", "TOS")]
    [InlineData("IPv6", "source")]
    public async Task RouteThatDependsOnMoreThanTheDestination_EveryDatagramIsLookedUpUntilItGoes(string family, string kind)
    {
        Start(family);
        using var client = ClientSocket();
        Assert.NotEqual(0UL, Epoch);
        var prefix = _ipv6 ? "fd88:201::/64" : "10.188.201.0/24";
        var route = kind switch
        {
            "multipath" => $"{prefix} nexthop via {Gateway(0)} nexthop via {Gateway(1)}",
            "TOS" => $"{prefix} tos 0x10 via {Gateway(1)}",
            _ => $"{prefix} from {_bed.ClientAddress6}/128 via {Gateway(1)}",
        };

        _bed.Proxy.Exec($"{Ip} route add {route}");
        await Eventually.TrueAsync(() => Epoch == 0, $"the family's cache off while a {kind} route exists");
        await SendAsync(client, 0, 50);
        _bed.Proxy.Exec($"{Ip} route del {route}");
        await Eventually.TrueAsync(() => Epoch != 0, $"the family's cache on again once the {kind} route went");
        await SendAsync(client, 50, 50);

        Assert.Equal(100, _receivers[0].Count);
        AssertAccounted(100, forwardedInKernel: 100);
    }

    [Fact]
    public async Task FollowingFails_EveryDatagramIsLookedUpUntilAFreshRead()
    {
        Start("IPv4");
        using var client = ClientSocket();
        var routes = _forwarder!.RouteCache!;

        routes.Fault.Arm(new InvalidOperationException("injected"));
        _bed.Proxy.Exec($"ip route replace {ServiceAddress} via {Gateway(0)}");
        await Eventually.TrueAsync(() => routes.Failures == 1, "the failure counted");
        await Eventually.TrueAsync(() => Epoch != 0 && routes.Epoch(FANOUT_FAMILY_IPV6) != 0, "both families cached again after the fresh read");
        await SendAsync(client, 0, 50);

        Assert.Equal(50, _receivers[0].Count);
        AssertAccounted(50, forwardedInKernel: 50);
        Assert.Equal(1, Stats().ModeCounters.Single(c => c.Name == "tc_route_follow_failures_total").Value);
    }

    private TcProgram Program => _forwarder!.Program!;

    private ulong Epoch => _forwarder!.RouteCache!.Epoch(_ipv6 ? FANOUT_FAMILY_IPV6 : FANOUT_FAMILY_IPV4);

    private string Ip => _ipv6 ? "ip -6" : "ip";

    private IPAddress ServiceAddress => IPAddress.Parse(_ipv6 ? "fd88:200::1" : "10.188.200.1");

    private IPAddress ClientAddress => _ipv6 ? _bed.ClientAddress6 : _bed.ClientAddress;

    private Downstream Service => new("service", new IPEndPoint(ServiceAddress, ServicePort));

    /// <summary>The proxy's next hop for the service through downstream <paramref name="index"/>: its address on the link.</summary>
    private IPAddress Gateway(int index) => _ipv6 ? _bed.DownstreamAddress6(index) : _bed.DownstreamAddress(index);

    /// <summary>
    /// The service address on both downstreams' loopback with a receiver each, the proxy's route to it through s0,
    /// and the forwarder started on it, its epochs moved on by notifications only.
    /// </summary>
    private void Start(string family)
    {
        _ipv6 = family == "IPv6";
        foreach (var ns in _bed.Downstreams)
        {
            ns.Exec("ip link set lo up");
            ns.Exec($"{Ip} addr add {ServiceAddress}/{(_ipv6 ? 128 : 32)} dev lo");
            _receivers.Add(ns.Invoke(() => new CountingReceiver(ServiceAddress, ServicePort)));
        }
        _bed.Proxy.Exec($"{Ip} route add {ServiceAddress} via {Gateway(0)}");
        var listener = new ListenerConfig
        {
            Name = "cached",
            Bind = new IPEndPoint(_ipv6 ? _bed.ProxyAddress6 : _bed.ProxyAddress, ListenPort),
            Mode = ForwardingMode.TcEbpf,
            Interface = _bed.ProxyIngress,
        };
        _forwarder = _bed.Proxy.Invoke(() =>
        {
            var forwarder = new TcEbpfForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None(), tcxLinks: false, routeCacheAge: TimeSpan.FromHours(1));
            forwarder.StartAsync(new DownstreamSet([Service]), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
    }

    private Socket ClientSocket() => _bed.Client.Invoke(() =>
    {
        var socket = new Socket(_ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(ClientAddress, 0));
        return socket;
    });

    /// <summary>Numbered datagrams <paramref name="first"/> onwards in bursts of 10, each waiting for the receivers to have them all.</summary>
    private async Task SendAsync(Socket client, int first, int count, int length = 64)
    {
        var arrived = _receivers.Sum(r => r.Count);
        for (var seq = first; seq < first + count; seq += 10)
        {
            var burst = Math.Min(10, first + count - seq);
            Send(client, seq, burst, length);
            arrived += burst;
            var expected = arrived;
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers");
        }
    }

    private void SendUnpaced(Socket client, int first, int count) => Send(client, first, count, 64);

    private void Send(Socket client, int first, int count, int length)
    {
        var payload = new byte[length];
        var target = new IPEndPoint(_ipv6 ? _bed.ProxyAddress6 : _bed.ProxyAddress, ListenPort);
        for (var seq = first; seq < first + count; seq++)
        {
            NumberedPayload.Write(payload, seq);
            client.SendTo(payload, target);
        }
    }

    private ListenerStats Stats() => _forwarder!.ReadStats();

    private long PassedToStack(string reason) =>
        Stats().ModeCounters.Single(c => c.Name == "tc_passed_to_stack_total" && c.Labels![0].Value == reason).Value;

    /// <summary>Every datagram received once, as forwarded or dropped, and <paramref name="forwardedInKernel"/> of them by the program.</summary>
    private void AssertAccounted(long received, long forwardedInKernel)
    {
        var stats = Stats();
        Assert.Equal(received, stats.Received);
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(forwardedInKernel, Program.Read(fanout_tc_stat.FANOUT_TC_FORWARDED).Packets);
    }
}
