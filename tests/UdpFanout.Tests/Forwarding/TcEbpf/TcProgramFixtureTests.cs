using System.Buffers.Binary;
using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Model;
using UdpFanout.Tests.Interop;
using UdpFanout.Tests.Testing;
using static Interop.Fanout;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The tc program run on fixture frames through BPF_PROG_TEST_RUN: {description, input frame, expected verdict,
/// expected output frame}, and for IPv6 the counter it lands in. It runs in a namespace where the downstream of
/// either family has a route and a neighbour, with forwarding on in both, as on a real proxy. The cases the same
/// in both families are theories over "IPv4" and "IPv6".
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class TcProgramFixtureTests : IDisposable
{
    /// <summary>TC_ACT_UNSPEC (-1): not acted on, so the next filter and then the stack get the packet as it was.</summary>
    private const uint TcActUnspec = uint.MaxValue;
    private const uint TcActShot = 2;
    private const uint TcActRedirect = 7;

    private static readonly IPEndPoint Listener = IPEndPoint.Parse("192.0.2.1:5514");
    private static readonly IPEndPoint Downstream = IPEndPoint.Parse("10.201.250.2:6000");
    private static readonly IPEndPoint Listener6 = IPEndPoint.Parse("[fd91:1::1]:5514");
    private static readonly IPEndPoint Downstream6 = IPEndPoint.Parse("[fd91:250::2]:6000");
    private static readonly Ipv6UdpFrame Matching6 = new() { Destination = Listener6.Address, DestinationPort = Listener6.Port };

    private readonly NetworkNamespace _ns = new($"uftfx{Environment.ProcessId % 10000:x}");
    private readonly int _ingressIfindex;

    public TcProgramFixtureTests()
    {
        _ns.Exec("sysctl -qw net.ipv6.conf.all.forwarding=1");
        _ns.Exec("sysctl -qw net.ipv4.ip_forward=1");
        _ns.Exec("ip link add fxa type veth peer name fxb");
        _ns.Exec("ip addr add 10.201.250.1/24 dev fxa");
        _ns.Exec("ip addr add fd91:250::1/64 dev fxa nodad");
        _ns.Exec("ip link set fxa up");
        _ns.Exec("ip link set fxb up");
        _ns.Exec("ip neigh add 10.201.250.2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _ns.Exec("ip -6 neigh add fd91:250::2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _ingressIfindex = int.Parse(_ns.Exec("cat /sys/class/net/fxb/ifindex").Trim());
    }

    public void Dispose() => _ns.Dispose();

    public static TheoryData<string, Ipv4UdpFrame, uint, Ipv4UdpFrame?> Fixtures()
    {
        var matching = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };
        Ipv4UdpFrame Forwarded(Ipv4UdpFrame input) =>
            input with { Destination = Downstream.Address, DestinationPort = Downstream.Port, Ttl = (byte)(input.Ttl - 1) };
        return new()
        {
            { "matching UDP: destination rewritten, TTL decremented, checksums right", matching, TcActRedirect, Forwarded(matching) },
            { "another UDP port: untouched", matching with { DestinationPort = 5515 }, TcActUnspec, null },
            { "another address: untouched", matching with { Destination = IPAddress.Parse("192.0.2.99") }, TcActUnspec, null },
            { "IP options: rewritten around them", matching with { IpOptions = [1, 1, 1, 0] }, TcActRedirect, Forwarded(matching with { IpOptions = [1, 1, 1, 0] }) },
            { "VLAN tag: rewritten behind it", matching with { VlanId = 42 }, TcActRedirect, Forwarded(matching with { VlanId = 42 }) },
            { "zero UDP checksum: stays zero", matching with { ZeroUdpChecksum = true }, TcActRedirect, Forwarded(matching with { ZeroUdpChecksum = true }) },
            { "first fragment: to the stack", matching with { MoreFragments = true }, TcActUnspec, null },
            { "later fragment: to the stack", matching with { FragmentOffsetUnits = 185 }, TcActUnspec, null },
            { "later fragment with TTL 1: to the stack, its bytes only look like the listener's port", matching with { FragmentOffsetUnits = 185, Ttl = 1 }, TcActUnspec, null },
        };
    }

    private static Ipv6UdpFrame Forwarded6(Ipv6UdpFrame input) =>
        input with { Destination = Downstream6.Address, DestinationPort = Downstream6.Port, HopLimit = (byte)(input.HopLimit - 1) };

    public static TheoryData<string, Ipv6UdpFrame, uint, Ipv6UdpFrame?, string> Ipv6Fixtures() => new()
    {
        { "matching UDP: destination rewritten, hop limit decremented, checksum right", Matching6, TcActRedirect, Forwarded6(Matching6), "FANOUT_TC_FORWARDED 1" },
        { "traffic class and flow label: kept", Matching6 with { TrafficClass = 0xB8, FlowLabel = 0x12345 }, TcActRedirect, Forwarded6(Matching6 with { TrafficClass = 0xB8, FlowLabel = 0x12345 }), "FANOUT_TC_FORWARDED 1" },
        { "VLAN tag: rewritten behind it", Matching6 with { VlanId = 42 }, TcActRedirect, Forwarded6(Matching6 with { VlanId = 42 }), "FANOUT_TC_FORWARDED 1" },
        { "odd payload length: checksum right", Matching6 with { Payload = [9, 8, 7] }, TcActRedirect, Forwarded6(Matching6 with { Payload = [9, 8, 7] }), "FANOUT_TC_FORWARDED 1" },
        { "another UDP port: untouched, not counted", Matching6 with { DestinationPort = 5515 }, TcActUnspec, null, "" },
        { "another address: untouched, not counted", Matching6 with { Destination = IPAddress.Parse("fd91:1::99") }, TcActUnspec, null, "" },
        { "destination options: to the stack", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "hop-by-hop options: to the stack", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "routing header: to the stack", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Routing] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "authentication header: to the stack", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Authentication] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "three extension headers: to the stack", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop, Ipv6UdpFrame.Routing, Ipv6UdpFrame.DestinationOptions] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "first fragment: to the stack", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true }, TcActUnspec, null, "FANOUT_TC_PASS_FRAGMENT 1" },
        { "fragment header behind destination options: a fragment", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions, Ipv6UdpFrame.Fragment], MoreFragments = true }, TcActUnspec, null, "FANOUT_TC_PASS_FRAGMENT 1" },
        { "later fragment: no UDP header in it, untouched, not counted", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], FragmentOffsetUnits = 185 }, TcActUnspec, null, "" },
        { "later fragment with hop limit 1: untouched, its bytes only look like the listener's port", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], FragmentOffsetUnits = 185, HopLimit = 1 }, TcActUnspec, null, "" },
        { "hop limit 1: dropped as a router drops it", Matching6 with { HopLimit = 1 }, TcActShot, Matching6 with { HopLimit = 1 }, "FANOUT_TC_TTL_EXPIRED 1" },
        { "hop limit 0: dropped", Matching6 with { HopLimit = 0 }, TcActShot, Matching6 with { HopLimit = 0 }, "FANOUT_TC_TTL_EXPIRED 1" },
        { "first fragment with hop limit 1: dropped, not reassembled and sent on", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true, HopLimit = 1 }, TcActShot, Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true, HopLimit = 1 }, "FANOUT_TC_TTL_EXPIRED 1" },
        { "zero UDP checksum, invalid in IPv6: to the stack, which drops it", Matching6 with { ZeroUdpChecksum = true }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "version 4 in an IPv6 frame", Matching6 with { IpVersion = 4 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "payload length beyond the frame", Matching6 with { PayloadLength = 8 + 8 + 1 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "payload length shorter than the UDP header", Matching6 with { PayloadLength = 4 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "payload length short of the UDP header behind an extension header", Matching6 with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions], PayloadLength = 8 + 4 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
    };

    [Theory]
    [MemberData(nameof(Ipv6Fixtures))]
    public void Run_Ipv6Fixture_GivesTheExpectedVerdictFrameAndCounter(string description, Ipv6UdpFrame input, uint verdict, Ipv6UdpFrame? output, string counted)
    {
        var frame = input.Build();

        var (actualVerdict, actualOutput, actualCounted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream6)]), frame, Listener6);

        Assert.True(verdict == actualVerdict, $"{description}: verdict {actualVerdict}, expected {verdict}");
        Assert.Equal(Convert.ToHexString(output?.Build() ?? frame), Convert.ToHexString(actualOutput));
        Assert.Equal(counted, actualCounted);
    }

    /// <summary>What the kernel's ip_rcv_core refuses: the program must neither forward nor change it, and count it.</summary>
    public static TheoryData<string, Ipv4UdpFrame> InvalidHeaders()
    {
        var matching = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };
        var length = 20 + 8 + matching.Payload.Length;
        return new()
        {
            { "bad IPv4 header checksum", matching with { BadIpChecksum = true } },
            { "bad checksum over IP options", matching with { IpOptions = [1, 1, 1, 0], BadIpChecksum = true } },
            { "total length shorter than the IP and UDP headers", matching with { TotalLength = 20 + 4 } },
            { "total length shorter than the IP header", matching with { TotalLength = 12 } },
            { "total length beyond the frame", matching with { TotalLength = (ushort)(length + 1) } },
            { "IHL below 5", matching with { HeaderLengthWords = 4 } },
            { "version 6 in an IPv4 frame", matching with { IpVersion = 6 } },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidHeaders))]
    public void Run_InvalidIpv4Header_PassesUntouchedAndCounts(string description, Ipv4UdpFrame input)
    {
        var frame = input.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame, Listener);

        Assert.True(verdict == TcActUnspec, $"{description}: verdict {verdict}");
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(output));
        Assert.Equal($"{fanout_tc_stat.FANOUT_TC_PASS_BAD_HEADER} 1", counted);
    }

    /// <summary>
    /// Ethernet pads short frames to 60 bytes (an IPv4 one with two bytes of payload by 16), and a link may leave
    /// bytes past the end of any packet: bytes past the IPv4 total length or the IPv6 payload length are not a bad header.
    /// </summary>
    [Theory]
    [InlineData("IPv4", 60 - 14 - 20 - 8 - 2)]
    [InlineData("IPv6", 10)]
    public void Run_LinkPaddingPastTheIpLength_IsForwarded(string family, int padding)
    {
        var frame = Matching(family, payload: [1, 2]).Concat(new byte[padding]).ToArray();

        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("d", DownstreamOf(family))]), frame, ListenerOf(family));

        Assert.Equal(TcActRedirect, verdict);
        Assert.Equal($"{fanout_tc_stat.FANOUT_TC_FORWARDED} 1", counted);
    }

    /// <summary>
    /// A router drops these. Passed to the stack they would reach the fallback socket and leave with a fresh TTL, so
    /// a loop through the proxy would never end.
    /// </summary>
    [Theory]
    [InlineData("TTL 1", 1, false)]
    [InlineData("TTL 0", 0, false)]
    [InlineData("first fragment with TTL 1: not reassembled and sent on", 1, true)]
    public void Run_TtlThatWouldExpire_DropsAndCounts(string description, byte ttl, bool fragment)
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address, Ttl = ttl, MoreFragments = fragment }.Build();

        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame, Listener);

        Assert.True(verdict == TcActShot, $"{description}: verdict {verdict}");
        Assert.Equal($"{fanout_tc_stat.FANOUT_TC_TTL_EXPIRED} 1", counted);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Run_Fixture_GivesTheExpectedVerdictAndFrame(string description, Ipv4UdpFrame input, uint verdict, Ipv4UdpFrame? output)
    {
        var frame = input.Build();

        var (actualVerdict, actualOutput) = RunProgram(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.True(verdict == actualVerdict, $"{description}: verdict {actualVerdict}, expected {verdict}");
        Assert.Equal(Convert.ToHexString(output?.Build() ?? frame), Convert.ToHexString(actualOutput));
    }

    // BPF_PROG_TEST_RUN itself refuses an IPv4 frame shorter than an IPv4 header (EINVAL), so a cut IPv4 header
    // is fed as an IHL that claims more header than the frame has.
    [Theory]
    [InlineData("IPv4 header length beyond the frame", 14 + 20 + 8, 15)]
    [InlineData("truncated UDP header", 14 + 20 + 4, 5)]
    public void Run_TruncatedHeaders_PassUntouched(string description, int length, int ihl)
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address, Payload = [] }.Build()[..length];
        frame[14] = (byte)(0x40 | ihl);

        var (verdict, output) = RunProgram(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.True(verdict == TcActUnspec, description);
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_Ipv6_PassesUntouched()
    {
        var frame = new byte[14 + 40 + 8];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86DD);
        frame[14] = 0x60;

        var (verdict, output) = RunProgram(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.Equal(TcActUnspec, verdict);
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_RewriteWhoseChecksumComesOutZero_WritesAllOnes()
    {
        // A payload word chosen so that the forwarded datagram's checksum computes to zero: RFC 8200 wants it sent
        // as 0xffff, never as 0 (which would mean "no checksum", refused by every IPv6 receiver).
        var forwarded = Forwarded6(Matching6 with { Payload = [1, 2, 3, 4, 5, 6, 0, 0] });
        var udp = forwarded.Build().AsSpan(forwarded.UdpOffset);
        var word = Ipv6UdpFrame.UdpChecksum(forwarded.Source, forwarded.Destination, udp);
        byte[] payload = [1, 2, 3, 4, 5, 6, (byte)(word >> 8), (byte)word];
        var expected = Forwarded6(Matching6 with { Payload = payload }).Build();
        Assert.Equal(0, Ipv6UdpFrame.UdpChecksum(forwarded.Source, forwarded.Destination, expected.AsSpan(forwarded.UdpOffset)));

        var (verdict, output, _) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream6)]), (Matching6 with { Payload = payload }).Build(), Listener6);

        Assert.Equal(TcActRedirect, verdict);
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(Matching6.UdpOffset + 6)));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output));
    }

    [Fact]
    public void Run_OnlyIpv4Downstreams_PassesToTheFallbackAsOtherFamily()
    {
        var frame = Matching6.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("v4", Downstream)]), frame, Listener6);

        Assert.Equal(TcActUnspec, verdict);
        Assert.Equal(frame, output);
        Assert.Equal("FANOUT_TC_PASS_OTHER_FAMILY 1", counted);
    }

    [Fact]
    public void Run_BothFamiliesInTheSet_EachDatagramGoesToADownstreamOfItsOwnFamily()
    {
        var any = IPEndPoint.Parse($"[::]:{Listener6.Port}");
        var set = new DownstreamSet([new Downstream("v4", Downstream), new Downstream("v6", Downstream6)]);
        var v6 = Matching6 with { Destination = IPAddress.Parse("fd91:1::5") };
        var v4 = new Ipv4UdpFrame { Destination = IPAddress.Parse("10.191.1.1"), DestinationPort = Listener6.Port };

        var (v6Verdict, v6Output, v6Counted) = RunAndCount(set, v6.Build(), any);
        var (v4Verdict, v4Output, v4Counted) = RunAndCount(set, v4.Build(), any);

        Assert.Equal((TcActRedirect, "FANOUT_TC_FORWARDED 1"), (v6Verdict, v6Counted));
        Assert.Equal(Convert.ToHexString(Forwarded6(v6).Build()), Convert.ToHexString(v6Output));
        Assert.Equal((TcActRedirect, "FANOUT_TC_FORWARDED 1"), (v4Verdict, v4Counted));
        var v4Expected = v4 with { Destination = Downstream.Address, DestinationPort = Downstream.Port, Ttl = (byte)(v4.Ttl - 1) };
        Assert.Equal(Convert.ToHexString(v4Expected.Build()), Convert.ToHexString(v4Output));
    }

    [Fact]
    public void Run_Ipv4ToAnIpv6OnlyListener_PassesUntouchedAndUncounted()
    {
        var frame = new Ipv4UdpFrame { Destination = IPAddress.Parse("10.191.1.1"), DestinationPort = Listener6.Port }.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("v4", Downstream)]), frame, Listener6);

        Assert.Equal((TcActUnspec, ""), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_Ipv6ToAnIpv4Listener_PassesUntouchedAndUncounted()
    {
        var frame = Matching6.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream6)]), frame, IPEndPoint.Parse($"0.0.0.0:{Listener6.Port}"));

        Assert.Equal((TcActUnspec, ""), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_LargerThanTheEgressMtu_PassesAsFragNeeded()
    {
        _ns.Exec("ip link set fxa mtu 1280");
        var frame = (Matching6 with { Payload = new byte[1300] }).Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream6)]), frame, Listener6);

        Assert.Equal((TcActUnspec, "FANOUT_TC_PASS_FRAG_NEEDED 1"), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_ForwardingDisabledOnTheIngressDevice_PassesAsForwardingDisabled()
    {
        _ns.Exec("sysctl -qw net.ipv6.conf.fxb.forwarding=0");
        var frame = Matching6.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream6)]), frame, Listener6);

        Assert.Equal((TcActUnspec, "FANOUT_TC_PASS_FORWARDING_DISABLED 1"), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Theory]
    [InlineData("IPv4", "no downstream", (int)DropReason.NoDownstream, "FANOUT_TC_NO_DOWNSTREAM 1")]
    [InlineData("IPv4", "every downstream unhealthy", (int)DropReason.NoHealthyDownstream, "FANOUT_TC_NO_HEALTHY_DOWNSTREAM 1")]
    [InlineData("IPv6", "no downstream", (int)DropReason.NoDownstream, "FANOUT_TC_NO_DOWNSTREAM 1")]
    [InlineData("IPv6", "every downstream unhealthy", (int)DropReason.NoHealthyDownstream, "FANOUT_TC_NO_HEALTHY_DOWNSTREAM 1")]
    public void Run_EmptySet_DropsWithItsReason(string family, string description, int reason, string counted)
    {
        var (verdict, _, actual) = RunAndCount(new DownstreamSet([], (DropReason)reason), Matching(family), ListenerOf(family));

        Assert.True(verdict == TcActShot, description);
        Assert.Equal(counted, actual);
    }

    [Theory]
    [InlineData("IPv4", "203.0.113.5:6000")]
    [InlineData("IPv6", "[fd91:999::5]:6000")]
    public void Run_NoRouteToTheDownstream_DropsAndCounts(string family, string unroutable)
    {
        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("far", IPEndPoint.Parse(unroutable))]), Matching(family), ListenerOf(family));

        Assert.Equal((TcActShot, "FANOUT_TC_NO_ROUTE 1"), (verdict, counted));
    }

    /// <summary>
    /// The C and C# hashes and the table the program reads agree, each family's own: for 100,000 random sources
    /// (address and port) the program rewrites each datagram to the downstream the C# policy picks for that source.
    /// Both hash keys.
    /// </summary>
    [Theory]
    [InlineData("IPv4", HashKeyName.SourceIpPort, 100_000)]
    [InlineData("IPv4", HashKeyName.SourceIp, 10_000)]
    [InlineData("IPv6", HashKeyName.SourceIpPort, 100_000)]
    [InlineData("IPv6", HashKeyName.SourceIp, 10_000)]
    public void Run_SourceHashForRandomSources_PicksTheDownstreamTheCSharpPolicyPicks(string family, HashKeyName keyName, int sources)
    {
        var ipv6 = IsIpv6(family);
        var hashKey = keyName == HashKeyName.SourceIp ? HashKey.SourceIp : HashKey.SourceIpPort;
        // Ten routable downstreams (permanent neighbours), weighted unevenly so weights travel in the table too.
        var set = Enumerable.Range(0, 10).Select(i => new Downstream($"d{i}", IPEndPoint.Parse(ipv6 ? $"[fd91:250::{10 + i}]:{6000 + i}" : $"10.201.250.{10 + i}:{6000 + i}")) { Weight = 1 + i % 3 }).ToArray();
        foreach (var d in set)
        {
            _ns.Exec($"ip neigh replace {d.Endpoint.Address} lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        }
        var random = new Random(ipv6 ? 13 : 12);
        var frames = Enumerable.Range(0, sources).Select(_ => ipv6 ? RandomIpv6Source(random) : RandomIpv4Source(random)).ToArray();
        var keys = frames.Select(f => SourceHash.Key(f.Source, hashKey)).ToArray();
        var expected = new int[keys.Length];
        new MaglevPolicy(set).Pick(keys, expected);

        var chosen = _ns.Invoke(() =>
        {
            using var program = TcProgram.Load(ListenerOf(family), BalancePolicy.SourceHash, hashKey);
            program.Publish(new DownstreamSet(set));
            var context = Context();
            return frames.Select(f =>
            {
                var (verdict, output) = BpfTestRun.Run(program.ProgramFd, f.Frame, context);
                Assert.Equal(TcActRedirect, verdict);
                // Destination address and port of the rewritten frame: IPv4 at 14, its destination at 16, UDP's port
                // at 22; IPv6 at 14, its destination at 24, UDP's port at 42.
                return ipv6
                    ? new IPEndPoint(new IPAddress(output.AsSpan(14 + 24, 16)), BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(14 + 40 + 2)))
                    : new IPEndPoint(new IPAddress(output.AsSpan(14 + 16, 4)), BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(14 + 20 + 2)));
            }).ToArray();
        });

        var disagreements = Enumerable.Range(0, sources).Where(i => !chosen[i].Equals(set[expected[i]].Endpoint)).ToArray();
        Assert.True(disagreements.Length == 0, $"{disagreements.Length} of {sources} sources disagree, first {(disagreements.Length > 0 ? frames[disagreements[0]].Source : "")}");
        Assert.Equal(10, chosen.Distinct().Count());
    }

    private static (IPEndPoint Source, byte[] Frame) RandomIpv4Source(Random random)
    {
        var frame = new Ipv4UdpFrame
        {
            Destination = Listener.Address,
            DestinationPort = Listener.Port,
            Source = new IPAddress(random.NextInt64(1, uint.MaxValue)),
            SourcePort = random.Next(1, 65536),
        };
        return (new IPEndPoint(frame.Source, frame.SourcePort), frame.Build());
    }

    private static (IPEndPoint Source, byte[] Frame) RandomIpv6Source(Random random)
    {
        var source = new byte[16];
        random.NextBytes(source);
        // Global unicast or ULA, never multicast.
        source[0] = (byte)random.Next(0x20, 0xFE);
        var frame = Matching6 with { Source = new IPAddress(source), SourcePort = random.Next(1, 65536) };
        return (new IPEndPoint(frame.Source, frame.SourcePort), frame.Build());
    }

    /// <summary>The hash keys, public for the theory's data (the config's enum is internal).</summary>
    public enum HashKeyName
    {
        SourceIp,
        SourceIpPort,
    }

    private const ulong Epoch = 7;

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_RouteCacheOn_ForwardsAsWithoutItAndKeepsTheRoute(string family)
    {
        var downstream = new Downstream("d", DownstreamOf(family));
        var (_, uncached, _) = RunAndCount(new DownstreamSet([downstream]), Matching(family), ListenerOf(family));

        var (runs, entries) = RunCached(family, downstream, null, [Matching(family), Matching(family)]);

        Assert.All(runs, run => Assert.Equal((TcActRedirect, Convert.ToHexString(uncached)), (run.Verdict, Convert.ToHexString(run.Output))));
        Assert.Equal("FANOUT_TC_FORWARDED 2", runs[^1].Counted);
        var route = Assert.Single(entries.Where(e => e.epoch == Epoch).Distinct());
        Assert.Equal((EgressIfindex, (ushort)1500, (byte)1, IsIpv6(family) ? (byte)10 : (byte)2), ((int)route.ifindex, route.mtu, route.resolved, route.nh_family));
        Assert.Equal(AddressBytes(downstream.Endpoint.Address), NextHop(route));
        Assert.Equal((uint)_ingressIfindex, route.ingress_ifindex);
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_CachedRouteOfTheCurrentEpoch_IsWhatTheProgramGoesBy(string family)
    {
        // An MTU below the datagram's length, which no real route here has: only the cache can say frag needed.
        var downstream = new Downstream("d", DownstreamOf(family));

        var (runs, _) = RunCached(family, downstream, Cached(downstream, Epoch, mtu: 20), [Matching(family)]);

        Assert.Equal((TcActUnspec, "FANOUT_TC_PASS_FRAG_NEEDED 1"), (runs[0].Verdict, runs[0].Counted));
    }

    public static TheoryData<string, string, ulong, string?> StaleEntries() => new()
    {
        { "IPv4", "of an older epoch", Epoch - 1, null },
        { "IPv6", "of an older epoch", Epoch - 1, null },
        { "IPv4", "of another downstream that had the slot", Epoch, "10.201.250.77" },
        { "IPv6", "of another downstream that had the slot", Epoch, "fd91:250::77" },
    };

    [Theory]
    [MemberData(nameof(StaleEntries))]
    public void Run_CachedRouteThatIsStale_IsLookedUpAgain(string family, string description, ulong epoch, string? address)
    {
        var downstream = new Downstream("d", DownstreamOf(family));
        var stale = Cached(address is null ? downstream : new Downstream("other", new IPEndPoint(IPAddress.Parse(address), 6000)), epoch, mtu: 20);

        var (runs, entries) = RunCached(family, downstream, stale, [Matching(family)]);

        Assert.True(runs[0].Counted == "FANOUT_TC_FORWARDED 1", $"{description}: {runs[0].Counted}");
        Assert.Contains(entries, e => e.epoch == Epoch && e.mtu == 1500);
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_EpochZero_NeverReadsTheCache(string family)
    {
        var downstream = new Downstream("d", DownstreamOf(family));

        var (runs, entries) = RunCached(family, downstream, Cached(downstream, 0, mtu: 20), [Matching(family)], epoch: 0);

        Assert.Equal("FANOUT_TC_FORWARDED 1", runs[0].Counted);
        Assert.All(entries, e => Assert.Equal(0UL, e.epoch));
    }

    [Theory]
    [InlineData("IPv4", "10.202.0.1:6000")]
    [InlineData("IPv6", "[fd92::1]:6000")]
    public void Run_RouteCacheOnAndNoRoute_DropsAsWithoutItAndCachesNothing(string family, string unroutable)
    {
        var far = new Downstream("far", IPEndPoint.Parse(unroutable));

        var (runs, entries) = RunCached(family, far, null, [Matching(family), Matching(family)]);

        Assert.Equal((TcActShot, "FANOUT_TC_NO_ROUTE 2"), (runs[^1].Verdict, runs[^1].Counted));
        Assert.All(entries, e => Assert.Equal(0UL, e.epoch));
    }

    [Theory]
    [InlineData("IPv4", "10.201.250.3:6000")]
    [InlineData("IPv6", "[fd91:250::3]:6000")]
    public void Run_RouteCacheOnAndTheNeighbourUnresolved_CountsItUnresolvedFromTheCacheToo(string family, string absent)
    {
        var downstream = new Downstream("absent", IPEndPoint.Parse(absent));

        var (runs, entries) = RunCached(family, downstream, null, [Matching(family), Matching(family)]);

        Assert.Equal((TcActRedirect, "FANOUT_TC_FORWARDED 2, FANOUT_TC_FORWARDED_UNRESOLVED 2"), (runs[^1].Verdict, runs[^1].Counted));
        Assert.Contains(entries, e => e.epoch == Epoch && e.resolved == 0 && e.mtu == 1500);
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public void Run_RouteCacheOnAndLargerThanTheEgressMtu_PassesAsFragNeeded(string family)
    {
        _ns.Exec("ip link set fxa mtu 1280");
        var downstream = new Downstream("d", DownstreamOf(family));

        var (runs, entries) = RunCached(family, downstream, null, [Matching(family), Matching(family, new byte[1300])]);

        Assert.Equal((TcActRedirect, TcActUnspec), (runs[0].Verdict, runs[1].Verdict));
        Assert.Equal("FANOUT_TC_FORWARDED 1, FANOUT_TC_PASS_FRAG_NEEDED 1", runs[1].Counted);
        Assert.Contains(entries, e => e.epoch == Epoch && e.mtu == 1280);
    }

    [Theory]
    [InlineData("IPv4", "net.ipv4.conf.fxb.forwarding")]
    [InlineData("IPv6", "net.ipv6.conf.fxb.forwarding")]
    public void Run_RouteCacheOnAndForwardingDisabled_PassesAsForwardingDisabled(string family, string setting)
    {
        _ns.Exec($"sysctl -qw {setting}=0");
        var downstream = new Downstream("d", DownstreamOf(family));

        var (runs, entries) = RunCached(family, downstream, null, [Matching(family), Matching(family)]);

        Assert.Equal((TcActUnspec, "FANOUT_TC_PASS_FORWARDING_DISABLED 2"), (runs[^1].Verdict, runs[^1].Counted));
        Assert.All(entries, e => Assert.Equal(0UL, e.epoch));
    }

    private int EgressIfindex => int.Parse(_ns.Exec("cat /sys/class/net/fxa/ifindex").Trim());

    /// <summary>A route cache entry for <paramref name="downstream"/> through fxa, resolved, as the program would write it but for the MTU.</summary>
    private fanout_route Cached(Downstream downstream, ulong epoch, ushort mtu)
    {
        var route = new fanout_route { epoch = epoch, ingress_ifindex = (uint)_ingressIfindex, ifindex = (uint)EgressIfindex, mtu = mtu, resolved = 1 };
        var address = AddressBytes(downstream.Endpoint.Address);
        route.nh_family = (byte)(downstream.Endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 10 : 2);
        unsafe
        {
            for (var i = 0; i < 16; i++)
            {
                route.daddr[i] = address[i];
                route.next_hop[i] = address[i];
            }
        }
        return route;
    }

    /// <summary>An address as the programs keep it: IPv4 in the first 4 of 16 bytes.</summary>
    private static byte[] AddressBytes(IPAddress address)
    {
        var bytes = new byte[16];
        address.GetAddressBytes().CopyTo(bytes, 0);
        return bytes;
    }

    private static unsafe byte[] NextHop(fanout_route route) => new ReadOnlySpan<byte>(route.next_hop, 16).ToArray();

    /// <summary>
    /// Runs the frames one after the other through one program whose route cache has the family's epoch set to
    /// <paramref name="epoch"/> (and <paramref name="preset"/> in every CPU's entry for the downstream), and says
    /// each run's verdict, output and counters so far, and the downstream's entries afterwards.
    /// </summary>
    private (List<(uint Verdict, byte[] Output, string Counted)> Runs, fanout_route[] Entries) RunCached(
        string family, Downstream downstream, fanout_route? preset, byte[][] frames, ulong epoch = Epoch) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(ListenerOf(family));
        program.Publish(new DownstreamSet([downstream]));
        program.SetRouteEpoch(IsIpv6(family) ? FANOUT_FAMILY_IPV6 : FANOUT_FAMILY_IPV4, epoch);
        if (preset is { } route)
        {
            program.CacheRoute(downstream, route);
        }
        var runs = new List<(uint, byte[], string)>();
        foreach (var frame in frames)
        {
            var (verdict, output) = BpfTestRun.Run(program.ProgramFd, frame, Context());
            runs.Add((verdict, output, Counted(program)));
        }
        return (runs, program.CachedRoutes(downstream));
    });

    private static string Counted(TcProgram program) => string.Join(", ", Enum.GetValues<fanout_tc_stat>().Where(s => s != fanout_tc_stat.FANOUT_TC_STAT_COUNT)
        .Select(s => (Stat: s, program.Read(s).Packets)).Where(c => c.Packets != 0).Select(c => $"{c.Stat} {c.Packets}"));

    private (uint Verdict, byte[] Output) RunProgram(DownstreamSet set, byte[] frame) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(Listener);
        program.Publish(set);
        return BpfTestRun.Run(program.ProgramFd, frame, Context());
    });

    /// <summary>Runs the frame once and says which of the program's counters counted it, and how often.</summary>
    private (uint Verdict, byte[] Output, string Counted) RunAndCount(DownstreamSet set, byte[] frame, IPEndPoint listener) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(listener);
        program.Publish(set);
        var (verdict, output) = BpfTestRun.Run(program.ProgramFd, frame, Context());
        var counted = Enum.GetValues<fanout_tc_stat>().Where(s => s != fanout_tc_stat.FANOUT_TC_STAT_COUNT)
            .Select(s => (Stat: s, program.Read(s).Packets)).Where(c => c.Packets != 0).Select(c => $"{c.Stat} {c.Packets}");
        return (verdict, output, string.Join(", ", counted));
    });

    private static bool IsIpv6(string family) =>
        family switch { "IPv4" => false, "IPv6" => true, _ => throw new ArgumentOutOfRangeException(nameof(family), family, "IPv4 or IPv6") };

    private static IPEndPoint ListenerOf(string family) => IsIpv6(family) ? Listener6 : Listener;

    private static IPEndPoint DownstreamOf(string family) => IsIpv6(family) ? Downstream6 : Downstream;

    /// <summary>A UDP datagram to the family's listener, with the frame types' default payload unless <paramref name="payload"/> is given.</summary>
    private static byte[] Matching(string family, byte[]? payload = null)
    {
        if (IsIpv6(family))
        {
            return (Matching6 with { Payload = payload ?? Matching6.Payload }).Build();
        }
        var matching = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port };
        return (matching with { Payload = payload ?? matching.Payload }).Build();
    }

    /// <summary>A __sk_buff saying the frame came in on a forwarding device, as bpf_fib_lookup needs.</summary>
    private byte[] Context()
    {
        var ctx = new byte[NativeLayout.Of("__sk_buff")];
        BinaryPrimitives.WriteInt32LittleEndian(ctx.AsSpan((int)NativeLayout.Of("__sk_buff.ingress_ifindex")), _ingressIfindex);
        BinaryPrimitives.WriteInt32LittleEndian(ctx.AsSpan((int)NativeLayout.Of("__sk_buff.ifindex")), _ingressIfindex);
        return ctx;
    }
}
