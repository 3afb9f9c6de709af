using System.Buffers.Binary;
using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Model;
using UdpFanout.Tests.Interop;
using UdpFanout.Tests.Testing;
using static Interop.Fanout;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The tc_ebpf listener's XDP layer run on fixture frames through BPF_PROG_TEST_RUN: {description, input frame,
/// expected verdict, expected output frame, the counter it lands in}. In a namespace where the downstream has a
/// route and a neighbour, with forwarding on; the egress takes XDP frames unless a fixture says otherwise. Every
/// frame the layer does not forward must come out unchanged, for the tc program to meet as it was.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class TcXdpProgramFixtureTests : IDisposable
{
    private const uint XdpPass = 2;
    private const uint XdpTx = 3;
    private const uint XdpRedirect = 4;

    private static readonly IPEndPoint Listener = IPEndPoint.Parse("192.0.2.1:5514");
    private static readonly IPEndPoint Downstream = IPEndPoint.Parse("10.194.250.2:6000");
    private static readonly IPEndPoint Listener6 = IPEndPoint.Parse("[fd76:1::1]:5514");
    private static readonly IPEndPoint Downstream6 = IPEndPoint.Parse("[fd76:250::2]:6000");
    private static readonly Ipv6UdpFrame Matching6 = new() { Source = IPAddress.Parse("fd76:2::10"), Destination = Listener6.Address, DestinationPort = Listener6.Port };
    private static readonly byte[] DownstreamMac = [0x02, 0, 0, 0, 0, 0x99];

    private readonly NetworkNamespace _ns = new($"uxffx{Environment.ProcessId % 10000:x}");
    private readonly int _egress;
    private readonly int _ingress;
    private readonly byte[] _egressMac;

    public TcXdpProgramFixtureTests()
    {
        _ns.Exec("ip link add fxa type veth peer name fxb");
        _ns.Exec("ip addr add 10.194.250.1/24 dev fxa");
        _ns.Exec("ip link set fxa up");
        _ns.Exec("ip link set fxb up");
        _ns.Exec("ip neigh add 10.194.250.2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _ns.Exec("sysctl -qw net.ipv4.ip_forward=1");
        _ns.Exec("sysctl -qw net.ipv6.conf.all.forwarding=1");
        _ns.Exec("ip addr add fd76:250::1/64 dev fxa nodad");
        _ns.Exec("ip -6 neigh add fd76:250::2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _egress = int.Parse(_ns.Exec("cat /sys/class/net/fxa/ifindex").Trim());
        _ingress = int.Parse(_ns.Exec("cat /sys/class/net/fxb/ifindex").Trim());
        _egressMac = Convert.FromHexString(_ns.Exec("cat /sys/class/net/fxa/address").Trim().Replace(":", ""));
    }

    public void Dispose() => _ns.Dispose();

    public static TheoryData<string, Ipv4UdpFrame, bool, uint, uint> Fixtures()
    {
        var matching = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };
        return new()
        {
            { "matching UDP: destination, TTL and MACs rewritten, checksums right", matching, true, XdpRedirect, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED },
            { "IP options: rewritten around them", matching with { IpOptions = [1, 1, 1, 0] }, true, XdpRedirect, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED },
            { "zero UDP checksum: stays zero", matching with { ZeroUdpChecksum = true }, true, XdpRedirect, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED },
            { "odd payload length: its checksum verifies", matching with { Payload = [1, 2, 3, 4, 5, 6, 7] }, true, XdpRedirect, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED },
            { "VLAN tag: to tc", matching with { VlanId = 42 }, true, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_VLAN },
            { "first fragment: to tc", matching with { MoreFragments = true }, true, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_FRAGMENT },
            { "later fragment: to tc", matching with { FragmentOffsetUnits = 185 }, true, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_FRAGMENT },
            { "TTL 1: to tc, which drops it", matching with { Ttl = 1 }, true, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_TTL },
            { "bad IPv4 header checksum: to tc", matching with { BadIpChecksum = true }, true, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_BAD_HEADER },
            { "total length beyond the frame: to tc", matching with { TotalLength = 20 + 8 + 9 + 1 }, true, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_BAD_HEADER },
            { "egress that cannot take XDP frames: to tc", matching, false, XdpPass, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_EGRESS },
        };
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Run_Fixture_GivesTheExpectedVerdictFrameAndCounter(string description, Ipv4UdpFrame input, bool egressTakesXdp, uint verdict, uint stat)
    {
        var frame = input.Build();

        var (actual, output, counted) = Run([new Downstream("d", Downstream)], frame, egressTakesXdp);

        Assert.True(verdict == actual, $"{description}: verdict {actual}, expected {verdict}");
        var expected = verdict == XdpPass ? frame : Forwarded(input);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output));
        Assert.Equal($"{(fanout_tc_xdp_stat)stat} 1", counted);
    }

    [Fact]
    public void Run_BadUdpChecksum_OrALocalSendersOffloadSeed_PassesUntouchedToTc()
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port }.Build();
        frame[14 + 20 + 6] ^= 0x5a;

        var (verdict, output, counted) = Run([new Downstream("d", Downstream)], frame, egressTakesXdp: true);

        Assert.Equal((XdpPass, Convert.ToHexString(frame)), (verdict, Convert.ToHexString(output)));
        Assert.Equal($"{fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_UDP_CHECKSUM} 1", counted);
    }

    [Theory]
    [InlineData("another UDP port", 5515, "192.0.2.1")]
    [InlineData("another address", 5514, "192.0.2.99")]
    public void Run_NotTheListenersDatagram_PassesUntouchedUncounted(string description, int port, string address)
    {
        var frame = new Ipv4UdpFrame { Destination = IPAddress.Parse(address), DestinationPort = port }.Build();

        var (verdict, output, counted) = Run([new Downstream("d", Downstream)], frame, egressTakesXdp: true);

        Assert.True(verdict == XdpPass, description);
        Assert.Equal(frame, output);
        Assert.Equal("", counted);
    }

    public static TheoryData<string, Ipv6UdpFrame, uint, string> Ipv6Fixtures() => new()
    {
        { "matching UDP: destination, hop limit and MACs rewritten, checksum right", Matching6, XdpRedirect, "FANOUT_TC_XDP_FORWARDED 1" },
        { "traffic class and flow label: kept", Matching6 with { TrafficClass = 0xB8, FlowLabel = 0x12345 }, XdpRedirect, "FANOUT_TC_XDP_FORWARDED 1" },
        { "odd payload length: its checksum verifies", Matching6 with { Payload = [9, 8, 7] }, XdpRedirect, "FANOUT_TC_XDP_FORWARDED 1" },
        { "a checksum that comes out zero: sent as 0xffff", Matching6 with { Payload = ZeroChecksumPayload() }, XdpRedirect, "FANOUT_TC_XDP_FORWARDED 1" },
        { "destination options: to tc", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions] }, XdpPass, "FANOUT_TC_XDP_PASS_EXTENSION_HEADER 1" },
        { "hop-by-hop options: to tc", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop] }, XdpPass, "FANOUT_TC_XDP_PASS_EXTENSION_HEADER 1" },
        { "routing header: to tc", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Routing] }, XdpPass, "FANOUT_TC_XDP_PASS_EXTENSION_HEADER 1" },
        { "first fragment: to tc", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true }, XdpPass, "FANOUT_TC_XDP_PASS_FRAGMENT 1" },
        { "later fragment: no UDP header in it, not the layer's", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], FragmentOffsetUnits = 185 }, XdpPass, "" },
        { "hop limit 1: to tc, which drops it", Matching6 with { HopLimit = 1 }, XdpPass, "FANOUT_TC_XDP_PASS_TTL 1" },
        { "zero UDP checksum, invalid in IPv6: to tc", Matching6 with { ZeroUdpChecksum = true }, XdpPass, "FANOUT_TC_XDP_PASS_BAD_HEADER 1" },
        { "version 4 in an IPv6 frame: to tc", Matching6 with { IpVersion = 4 }, XdpPass, "FANOUT_TC_XDP_PASS_BAD_HEADER 1" },
        { "payload length beyond the frame: to tc", Matching6 with { PayloadLength = 8 + 8 + 1 }, XdpPass, "FANOUT_TC_XDP_PASS_BAD_HEADER 1" },
        { "VLAN tag: to tc", Matching6 with { VlanId = 42 }, XdpPass, "FANOUT_TC_XDP_PASS_VLAN 1" },
        { "another UDP port: not the layer's", Matching6 with { DestinationPort = 5515 }, XdpPass, "" },
        { "another address: not the layer's", Matching6 with { Destination = IPAddress.Parse("fd76:1::99") }, XdpPass, "" },
    };

    [Theory]
    [MemberData(nameof(Ipv6Fixtures))]
    public void Run_Ipv6Fixture_GivesTheExpectedVerdictFrameAndCounter(string description, Ipv6UdpFrame input, uint verdict, string stat)
    {
        var frame = input.Build();

        var (actual, output, counted) = Run([new Downstream("d", Downstream6)], frame, egressTakesXdp: true, listener: Listener6);

        Assert.True(verdict == actual, $"{description}: verdict {actual}, expected {verdict}");
        var expected = verdict == XdpPass ? frame : Forwarded6(input);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output));
        Assert.Equal(stat, counted);
    }

    [Fact]
    public void Run_Ipv6BadUdpChecksum_OrALocalSendersOffloadSeed_PassesUntouchedToTc()
    {
        var frame = Matching6.Build();
        frame[Matching6.UdpOffset + 6] ^= 0x5a;

        var (verdict, output, counted) = Run([new Downstream("d", Downstream6)], frame, egressTakesXdp: true, listener: Listener6);

        Assert.Equal((XdpPass, Convert.ToHexString(frame)), (verdict, Convert.ToHexString(output)));
        Assert.Equal($"{fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_UDP_CHECKSUM} 1", counted);
    }

    [Fact]
    public void Run_Ipv6NeighbourSolicitation_PassesUntouchedUncounted()
    {
        // ICMPv6 type 135 to the listener's solicited-node address: neighbour discovery is the stack's.
        var frame = new byte[14 + 40 + 24];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86DD);
        frame[14] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + 4), 24);
        frame[14 + 6] = 58;
        frame[14 + 7] = 255;
        IPAddress.Parse("fd76:2::10").TryWriteBytes(frame.AsSpan(14 + 8), out _);
        IPAddress.Parse("ff02::1:ff00:1").TryWriteBytes(frame.AsSpan(14 + 24), out _);
        frame[14 + 40] = 135;
        Listener6.Address.TryWriteBytes(frame.AsSpan(14 + 40 + 8), out _);

        var (verdict, output, counted) = Run([new Downstream("d", Downstream6)], frame, egressTakesXdp: true, listener: IPEndPoint.Parse("[::]:5514"));

        Assert.Equal((XdpPass, "", Convert.ToHexString(frame)), (verdict, counted, Convert.ToHexString(output)));
    }

    [Fact]
    public void Run_DualStackListener_Ipv6Datagram_GoesToTheIpv6SetsDownstream()
    {
        // The IPv4 downstream first: a single mixed set would send the datagram to index 0.
        Downstream[] set = [new Downstream("v4", Downstream), new Downstream("d", Downstream6)];

        var (verdict, output, counted) = Run(set, Matching6.Build(), egressTakesXdp: true, listener: IPEndPoint.Parse("[::]:5514"));

        Assert.Equal(XdpRedirect, verdict);
        Assert.Equal(Convert.ToHexString(Forwarded6(Matching6)), Convert.ToHexString(output));
        Assert.Equal($"{fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED} 1", counted);
    }

    [Fact]
    public void Run_Ipv4ListenerOnly_Ipv6PassesUntouchedUncounted()
    {
        var frame = new byte[14 + 40 + 8];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86DD);
        frame[14] = 0x60;

        var (verdict, output, counted) = Run([new Downstream("d", Downstream)], frame, egressTakesXdp: true);

        Assert.Equal((XdpPass, "", Convert.ToHexString(frame)), (verdict, counted, Convert.ToHexString(output)));
    }

    [Theory]
    [InlineData("an IPv6-only listener (its IPv4 address field is 0)", "[2001:db8::1]:5514")]
    [InlineData("an IPv4 listener on another port", "192.0.2.1:5515")]
    public void Run_ListenerWithoutIpv4_Ipv4DatagramToItsPort_PassesUntouchedUncounted(string description, string listener)
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port }.Build();

        var (verdict, output, counted) = Run([new Downstream("d", Downstream)], frame, egressTakesXdp: true, listener: IPEndPoint.Parse(listener));

        Assert.True(verdict == XdpPass, description);
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(output));
        Assert.Equal("", counted);
    }

    [Fact]
    public void Run_DualStackListener_Ipv4Datagram_GoesToTheIpv4SetsDownstream()
    {
        var input = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };
        // The IPv6 downstream first: a single mixed set would send the datagram to index 0.
        Downstream[] set = [new Downstream("v6", IPEndPoint.Parse("[2001:db8::9]:6000")), new Downstream("d", Downstream)];

        var (verdict, output, counted) = Run(set, input.Build(), egressTakesXdp: true, listener: IPEndPoint.Parse("[::]:5514"));

        Assert.Equal(XdpRedirect, verdict);
        Assert.Equal(Convert.ToHexString(Forwarded(input)), Convert.ToHexString(output));
        Assert.Equal($"{fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED} 1", counted);
    }

    [Fact]
    public void Run_OnlyIpv6Downstreams_Ipv4PassesUntouchedToTc()
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port }.Build();

        var (verdict, output, counted) = Run([new Downstream("v6", IPEndPoint.Parse("[2001:db8::9]:6000"))], frame, egressTakesXdp: true,
            listener: IPEndPoint.Parse("[::]:5514"));

        Assert.Equal((XdpPass, Convert.ToHexString(frame)), (verdict, Convert.ToHexString(output)));
        Assert.Equal($"{fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_NO_DOWNSTREAM} 1", counted);
    }

    [Theory]
    [InlineData("no downstream", null, (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_NO_DOWNSTREAM)]
    [InlineData("no route to the downstream", "203.0.113.5:6000", (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_FIB)]
    [InlineData("the next hop's neighbour unresolved", "10.194.250.3:6000", (uint)fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_NO_NEIGH)]
    public void Run_NothingToSendTo_PassesUntouchedToTc(string description, string? downstream, uint stat)
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port }.Build();
        Downstream[] set = downstream is null ? [] : [new Downstream("d", IPEndPoint.Parse(downstream))];

        var (verdict, output, counted) = Run(set, frame, egressTakesXdp: true);

        Assert.True(verdict == XdpPass, description);
        Assert.Equal(frame, output);
        Assert.Equal($"{(fanout_tc_xdp_stat)stat} 1", counted);
    }

    [Fact]
    public void Run_EgressIsTheIngress_SentBackWithXdpTx()
    {
        var input = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };

        var (verdict, output, counted) = Run([new Downstream("d", Downstream)], input.Build(), egressTakesXdp: true, ingress: _egress);

        Assert.Equal(XdpTx, verdict);
        Assert.Equal(Convert.ToHexString(Forwarded(input)), Convert.ToHexString(output));
        Assert.Equal($"{fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED} 1", counted);
    }

    /// <summary>The frame the layer should send: to the downstream, TTL one less, from the egress's MAC to the neighbour's.</summary>
    private const ulong Epoch = 7;

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_RouteCacheOn_ForwardsAsWithoutItAndKeepsTheMacs(string family)
    {
        var (downstream, frame, forwarded) = Case(family);

        var (runs, entries) = RunCached(downstream, [frame, frame], Family(family), null);

        Assert.All(runs, run => Assert.Equal((XdpRedirect, Convert.ToHexString(forwarded)), (run.Verdict, Convert.ToHexString(run.Output))));
        Assert.Equal("FANOUT_TC_XDP_FORWARDED 2", runs[^1].Counted);
        var route = Assert.Single(entries.Where(e => e.epoch == Epoch).Distinct());
        Assert.Equal(((uint)_egress, (byte)1), (route.ifindex, route.resolved));
        Assert.Equal(Convert.ToHexString(DownstreamMac) + Convert.ToHexString(_egressMac), Macs(route));
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_CachedRouteOfTheCurrentEpoch_ItsMacsAreTheFramesAndItsMtuDecides(string family)
    {
        var (downstream, frame, forwarded) = Case(family);
        var cached = Cached(downstream, mtu: 1500, resolved: 1);
        unsafe
        {
            cached.dmac[5] = 0x42;
        }

        var (runs, _) = RunCached(downstream, [frame], Family(family), cached);
        var (tooBig, _) = RunCached(downstream, [frame], Family(family), Cached(downstream, mtu: 20, resolved: 1));
        var (unresolved, _) = RunCached(downstream, [frame], Family(family), Cached(downstream, mtu: 1500, resolved: 0));

        forwarded[5] = 0x42;
        Assert.Equal((XdpRedirect, Convert.ToHexString(forwarded)), (runs[0].Verdict, Convert.ToHexString(runs[0].Output)));
        Assert.Equal((XdpPass, Convert.ToHexString(frame), "FANOUT_TC_XDP_PASS_FIB 1"), (tooBig[0].Verdict, Convert.ToHexString(tooBig[0].Output), tooBig[0].Counted));
        Assert.Equal((XdpPass, Convert.ToHexString(frame), "FANOUT_TC_XDP_PASS_NO_NEIGH 1"), (unresolved[0].Verdict, Convert.ToHexString(unresolved[0].Output), unresolved[0].Counted));
    }

    [Theory]
    [InlineData("IPv4", "10.194.250.3:6000")]
    [InlineData("IPv6", "[fd76:250::3]:6000")]
    public void Run_RouteCacheOnAndTheNeighbourUnresolved_PassesToTcAndCachesItUnresolved(string family, string absent)
    {
        var downstream = new Downstream("absent", IPEndPoint.Parse(absent));
        var (_, frame, _) = Case(family);

        var (runs, entries) = RunCached(downstream, [frame, frame], Family(family), null);

        Assert.Equal((XdpPass, "FANOUT_TC_XDP_PASS_NO_NEIGH 2"), (runs[^1].Verdict, runs[^1].Counted));
        Assert.Contains(entries, e => e.epoch == Epoch && e.resolved == 0 && e.ifindex == _egress);
    }

    private static uint Family(string family) => family == "IPv6" ? FANOUT_FAMILY_IPV6 : FANOUT_FAMILY_IPV4;

    /// <summary>The family's downstream, a datagram to the listener and the frame the layer sends for it.</summary>
    private (Downstream Downstream, byte[] Frame, byte[] Forwarded) Case(string family)
    {
        if (family == "IPv6")
        {
            return (new Downstream("d", Downstream6), Matching6.Build(), Forwarded6(Matching6));
        }
        var matching = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };
        return (new Downstream("d", Downstream), matching.Build(), Forwarded(matching));
    }

    private static unsafe string Macs(fanout_route route) =>
        Convert.ToHexString(new ReadOnlySpan<byte>(route.dmac, 6)) + Convert.ToHexString(new ReadOnlySpan<byte>(route.smac, 6));

    /// <summary>A route cache entry of the current epoch for <paramref name="downstream"/> out of the egress, with its real MACs.</summary>
    private unsafe fanout_route Cached(Downstream downstream, ushort mtu, byte resolved)
    {
        var route = new fanout_route { epoch = Epoch, ingress_ifindex = (uint)_ingress, ifindex = (uint)_egress, mtu = mtu, resolved = resolved };
        route.nh_family = (byte)(downstream.Endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 10 : 2);
        var address = downstream.Endpoint.Address.GetAddressBytes();
        for (var i = 0; i < address.Length; i++)
        {
            route.daddr[i] = address[i];
            route.next_hop[i] = address[i];
        }
        for (var i = 0; i < 6; i++)
        {
            route.dmac[i] = DownstreamMac[i];
            route.smac[i] = _egressMac[i];
        }
        return route;
    }

    /// <summary>
    /// Runs the frames through one layer whose route cache has <paramref name="family"/>'s epoch set (and
    /// <paramref name="preset"/> in every CPU's entry for the downstream); each run's verdict, output and counters so
    /// far, and the downstream's entries afterwards.
    /// </summary>
    private (List<(uint Verdict, byte[] Output, string Counted)> Runs, fanout_route[] Entries) RunCached(Downstream downstream, byte[][] frames, uint family, fanout_route? preset) => _ns.Invoke(() =>
    {
        var bind = family == FANOUT_FAMILY_IPV6 ? Listener6 : Listener;
        var config = new ListenerConfig { Name = "fx", Bind = bind, Mode = ForwardingMode.TcEbpf, Interface = "fxb" };
        using var tc = TcProgram.Load(bind);
        tc.Publish(new DownstreamSet([downstream]));
        tc.SetRouteEpoch(family, Epoch);
        if (preset is { } route)
        {
            tc.CacheRoute(downstream, route);
        }
        using var layer = TcXdpLayer.Load(config, tc, chainMapFd: -1, chainSlot: 0);
        layer.Map(TC_XDP_MAP_EGRESS).Update((uint)_egress, _egress);
        var stats = layer.Map(TC_XDP_MAP_STATS);
        var runs = new List<(uint, byte[], string)>();
        foreach (var frame in frames)
        {
            var (verdict, output) = BpfTestRun.Run(layer.ProgramFd(TC_XDP_PROGRAM), frame, Context(_ingress, frame.Length));
            var counted = Enum.GetValues<fanout_tc_xdp_stat>().Where(s => s != fanout_tc_xdp_stat.FANOUT_TC_XDP_STAT_COUNT)
                .Select(s => (Stat: s, Packets: stats.LookupPerCpu<fanout_counter>((uint)s).Aggregate(0UL, (a, c) => a + c.packets)))
                .Where(c => c.Packets != 0).Select(c => $"{c.Stat} {c.Packets}");
            runs.Add((verdict, output, string.Join(", ", counted)));
        }
        return (runs, tc.CachedRoutes(downstream));
    });

    private byte[] Forwarded(Ipv4UdpFrame input)
    {
        var frame = (input with { Destination = Downstream.Address, DestinationPort = Downstream.Port, Ttl = (byte)(input.Ttl - 1) }).Build();
        DownstreamMac.CopyTo(frame, 0);
        _egressMac.CopyTo(frame, 6);
        return frame;
    }

    /// <summary>The IPv6 frame the layer should send: to the downstream, hop limit one less, from the egress's MAC to the neighbour's.</summary>
    private byte[] Forwarded6(Ipv6UdpFrame input)
    {
        var frame = (input with { Destination = Downstream6.Address, DestinationPort = Downstream6.Port, HopLimit = (byte)(input.HopLimit - 1) }).Build();
        DownstreamMac.CopyTo(frame, 0);
        _egressMac.CopyTo(frame, 6);
        return frame;
    }

    /// <summary>
    /// A payload whose datagram, once sent on to the downstream, sums to all ones, so its UDP checksum computes to 0:
    /// its first word is the checksum the forwarded datagram has with that word 0, which adds the missing sum.
    /// </summary>
    private static byte[] ZeroChecksumPayload()
    {
        var payload = new byte[8];
        var forwarded = (Matching6 with { Destination = Downstream6.Address, DestinationPort = Downstream6.Port, Payload = payload }).Build();
        var udp = forwarded.AsSpan(Matching6.UdpOffset);
        BinaryPrimitives.WriteUInt16BigEndian(payload, Ipv6UdpFrame.UdpChecksum(Matching6.Source, Downstream6.Address, udp));
        return payload;
    }

    /// <summary>Runs the frame once through a freshly loaded layer on a tc program's maps; says which counter counted it.</summary>
    private (uint Verdict, byte[] Output, string Counted) Run(Downstream[] set, byte[] frame, bool egressTakesXdp, int? ingress = null, IPEndPoint? listener = null) => _ns.Invoke(() =>
    {
        var bind = listener ?? Listener;
        var config = new ListenerConfig { Name = "fx", Bind = bind, Mode = ForwardingMode.TcEbpf, Interface = "fxb" };
        using var tc = TcProgram.Load(bind);
        tc.Publish(new DownstreamSet(set));
        using var layer = TcXdpLayer.Load(config, tc, chainMapFd: -1, chainSlot: 0);
        if (egressTakesXdp)
        {
            layer.Map(TC_XDP_MAP_EGRESS).Update((uint)_egress, _egress);
        }
        var (verdict, output) = BpfTestRun.Run(layer.ProgramFd(TC_XDP_PROGRAM), frame, Context(ingress ?? _ingress, frame.Length));
        var stats = layer.Map(TC_XDP_MAP_STATS);
        var counted = Enum.GetValues<fanout_tc_xdp_stat>().Where(s => s != fanout_tc_xdp_stat.FANOUT_TC_XDP_STAT_COUNT)
            .Select(s => (Stat: s, Packets: stats.LookupPerCpu<fanout_counter>((uint)s).Aggregate(0UL, (a, c) => a + c.packets)))
            .Where(c => c.Packets != 0).Select(c => $"{c.Stat} {c.Packets}");
        return (verdict, output, string.Join(", ", counted));
    });

    /// <summary>An xdp_md saying which device the frame came in on, as bpf_fib_lookup needs; the kernel wants data_end to be the frame's length.</summary>
    private static byte[] Context(int ingress, int length)
    {
        var ctx = new byte[NativeLayout.Of("xdp_md")];
        BinaryPrimitives.WriteInt32LittleEndian(ctx.AsSpan((int)NativeLayout.Of("xdp_md.data_end")), length);
        BinaryPrimitives.WriteInt32LittleEndian(ctx.AsSpan((int)NativeLayout.Of("xdp_md.ingress_ifindex")), ingress);
        return ctx;
    }
}
