using System.Buffers.Binary;
using System.Net;
using UdpFanout.Bpf;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Tests.Testing;
using static Interop.Fanout;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>
/// The XDP program on fixture frames through BPF_PROG_TEST_RUN. With no socket in the XSKMAP, a matching datagram
/// takes the map lookup and its XDP_PASS fallback, which the NoSocket counter shows; everything else must pass
/// without being counted at all.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class XdpProgramFixtureTests
{
    private const uint XdpPass = 2;
    private static readonly IPEndPoint Listener = IPEndPoint.Parse("192.0.2.1:5514");
    private static readonly Ipv4UdpFrame Matching = new() { Destination = Listener.Address, DestinationPort = Listener.Port };

    public static TheoryData<string, byte[], int?> Fixtures()
    {
        var arp = new byte[42];
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(12), 0x0806);
        var ipv6 = new byte[14 + 40 + 8];
        BinaryPrimitives.WriteUInt16BigEndian(ipv6.AsSpan(12), 0x86DD);
        var tcp = Matching.Build();
        tcp[14 + 9] = 6;
        return new()
        {
            { "matching UDP: looked up in the XSKMAP", Matching.Build(), (int)fanout_xdp_stat.FANOUT_XDP_NO_SOCKET },
            { "matching UDP behind a VLAN tag", (Matching with { VlanId = 5 }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_NO_SOCKET },
            { "first fragment: to the stack", (Matching with { MoreFragments = true }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_PASS_FRAGMENT },
            { "later fragment: to the stack", (Matching with { FragmentOffsetUnits = 100 }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_PASS_FRAGMENT },
            { "another UDP port", (Matching with { DestinationPort = 53 }).Build(), null },
            { "ARP", arp, null },
            { "IPv6", ipv6, null },
            { "TCP", tcp, null },
            { "truncated UDP header", Matching.Build()[..(14 + 20 + 4)], null },
        };
    }

    private static readonly IPEndPoint Listener6 = IPEndPoint.Parse("[fd91:1::1]:5514");
    private static readonly Ipv6UdpFrame Matching6 = new() { Destination = Listener6.Address, DestinationPort = Listener6.Port };

    /// <summary>IPv6 frames to an IPv6 listener: its UDP looked up, neighbour discovery and everything else passed.</summary>
    public static TheoryData<string, byte[], int?> Ipv6Fixtures()
    {
        var tcp = Matching6.Build();
        tcp[14 + 6] = 6;
        return new()
        {
            { "matching UDP: looked up in the XSKMAP", Matching6.Build(), (int)fanout_xdp_stat.FANOUT_XDP_NO_SOCKET },
            { "matching UDP behind a VLAN tag", (Matching6 with { VlanId = 5 }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_NO_SOCKET },
            { "destination options: to the stack", (Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions] }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_PASS_EXTENSION_HEADER },
            { "hop-by-hop and routing headers: to the stack", (Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop, Ipv6UdpFrame.Routing] }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_PASS_EXTENSION_HEADER },
            { "first fragment: to the stack", (Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true }).Build(), (int)fanout_xdp_stat.FANOUT_XDP_PASS_FRAGMENT },
            { "later fragment: no UDP header, passed uncounted", (Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], FragmentOffsetUnits = 100 }).Build(), null },
            { "another UDP port", (Matching6 with { DestinationPort = 53 }).Build(), null },
            { "another address", (Matching6 with { Destination = IPAddress.Parse("fd91:1::2") }).Build(), null },
            { "neighbour solicitation", Icmpv6(135), null },
            { "neighbour advertisement", Icmpv6(136), null },
            { "router solicitation", Icmpv6(133), null },
            { "router advertisement", Icmpv6(134), null },
            { "redirect", Icmpv6(137), null },
            { "TCP", tcp, null },
            { "IPv4 UDP to the listener's port", Matching.Build(), null },
            { "truncated UDP header", Matching6.Build()[..(14 + 40 + 4)], null },
        };
    }

    [Theory]
    [MemberData(nameof(Ipv6Fixtures))]
    public void Run_Ipv6Fixture_PassesAndCountsAsExpected(string description, byte[] frame, int? counted) =>
        RunAndCheck(Listener6, description, frame, counted);

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_ListenerOnTheIpv6AnyAddress_TakesBothFamilies(string family)
    {
        var frame = family == "IPv4" ? Matching.Build() : (Matching6 with { Destination = IPAddress.Parse("fd91:7::7") }).Build();

        RunAndCheck(IPEndPoint.Parse("[::]:5514"), family, frame, (int)fanout_xdp_stat.FANOUT_XDP_NO_SOCKET);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Run_Fixture_PassesAndCountsAsExpected(string description, byte[] frame, int? counted) =>
        RunAndCheck(Listener, description, frame, counted);

    /// <summary>An ICMPv6 message of <paramref name="type"/> (neighbour discovery: 133-137) to the listener's address.</summary>
    private static byte[] Icmpv6(byte type)
    {
        var frame = Matching6.Build();
        frame[14 + 6] = 58;
        frame[14 + 40] = type;
        return frame;
    }

    private static void RunAndCheck(IPEndPoint listener, string description, byte[] frame, int? counted)
    {
        using var obj = ListenerObject.Load(XDP_OBJECT, listener);

        var (verdict, output) = BpfTestRun.Run(obj.ProgramFd(XDP_PROGRAM), frame);

        Assert.True(verdict == XdpPass, $"{description}: verdict {verdict}");
        Assert.Equal(frame, output);
        var stats = obj.Map(XDP_MAP_STATS);
        foreach (var stat in Enum.GetValues<fanout_xdp_stat>().Where(s => s != fanout_xdp_stat.FANOUT_XDP_STAT_COUNT))
        {
            var packets = stats.LookupPerCpu<fanout_counter>((uint)stat).Aggregate(0UL, (a, c) => a + c.packets);
            Assert.True(packets == (counted == (int)stat ? 1UL : 0UL), $"{description}: {stat} counted {packets}");
        }
    }
}
