using System.Buffers.Binary;
using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Model;
using UdpFanout.Tests.Interop;
using UdpFanout.Tests.Testing;
using static Interop.Fanout;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The tc program on IPv6 fixture frames through BPF_PROG_TEST_RUN: {description, input frame, expected verdict,
/// expected output frame, the counter it lands in}. It runs in a namespace where the IPv6 downstream has a route
/// and a neighbour, with IPv6 forwarding on, as on a real proxy.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class TcProgramIpv6FixtureTests : IDisposable
{
    private const uint TcActUnspec = uint.MaxValue;
    private const uint TcActShot = 2;
    private const uint TcActRedirect = 7;

    private static readonly IPEndPoint Listener = IPEndPoint.Parse("[fd91:1::1]:5514");
    private static readonly IPEndPoint Downstream = IPEndPoint.Parse("[fd91:250::2]:6000");
    private static readonly IPEndPoint Ipv4Downstream = IPEndPoint.Parse("10.191.250.2:6000");
    private static readonly Ipv6UdpFrame Matching = new() { Destination = Listener.Address, DestinationPort = Listener.Port };

    private readonly NetworkNamespace _ns = new($"u6bfx{Environment.ProcessId % 10000:x}");
    private readonly int _ingressIfindex;

    public TcProgramIpv6FixtureTests()
    {
        _ns.Exec("sysctl -qw net.ipv6.conf.all.forwarding=1");
        _ns.Exec("sysctl -qw net.ipv4.ip_forward=1");
        _ns.Exec("ip link add fxa type veth peer name fxb");
        _ns.Exec("ip addr add fd91:250::1/64 dev fxa nodad");
        _ns.Exec("ip addr add 10.191.250.1/24 dev fxa");
        _ns.Exec("ip link set fxa up");
        _ns.Exec("ip link set fxb up");
        _ns.Exec("ip -6 neigh add fd91:250::2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _ns.Exec("ip neigh add 10.191.250.2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _ingressIfindex = int.Parse(_ns.Exec("cat /sys/class/net/fxb/ifindex").Trim());
    }

    public void Dispose() => _ns.Dispose();

    private static Ipv6UdpFrame Forwarded(Ipv6UdpFrame input) =>
        input with { Destination = Downstream.Address, DestinationPort = Downstream.Port, HopLimit = (byte)(input.HopLimit - 1) };

    public static TheoryData<string, Ipv6UdpFrame, uint, Ipv6UdpFrame?, string> Fixtures() => new()
    {
        { "matching UDP: destination rewritten, hop limit decremented, checksum right", Matching, TcActRedirect, Forwarded(Matching), "FANOUT_TC_FORWARDED 1" },
        { "traffic class and flow label: kept", Matching with { TrafficClass = 0xB8, FlowLabel = 0x12345 }, TcActRedirect, Forwarded(Matching with { TrafficClass = 0xB8, FlowLabel = 0x12345 }), "FANOUT_TC_FORWARDED 1" },
        { "VLAN tag: rewritten behind it", Matching with { VlanId = 42 }, TcActRedirect, Forwarded(Matching with { VlanId = 42 }), "FANOUT_TC_FORWARDED 1" },
        { "odd payload length: checksum right", Matching with { Payload = [9, 8, 7] }, TcActRedirect, Forwarded(Matching with { Payload = [9, 8, 7] }), "FANOUT_TC_FORWARDED 1" },
        { "another UDP port: untouched, not counted", Matching with { DestinationPort = 5515 }, TcActUnspec, null, "" },
        { "another address: untouched, not counted", Matching with { Destination = IPAddress.Parse("fd91:1::99") }, TcActUnspec, null, "" },
        { "destination options: to the stack", Matching with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "hop-by-hop options: to the stack", Matching with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "routing header: to the stack", Matching with { ExtensionHeaders = [Ipv6UdpFrame.Routing] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "authentication header: to the stack", Matching with { ExtensionHeaders = [Ipv6UdpFrame.Authentication] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "three extension headers: to the stack", Matching with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop, Ipv6UdpFrame.Routing, Ipv6UdpFrame.DestinationOptions] }, TcActUnspec, null, "FANOUT_TC_PASS_EXTENSION_HEADER 1" },
        { "first fragment: to the stack", Matching with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true }, TcActUnspec, null, "FANOUT_TC_PASS_FRAGMENT 1" },
        { "fragment header behind destination options: a fragment", Matching with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions, Ipv6UdpFrame.Fragment], MoreFragments = true }, TcActUnspec, null, "FANOUT_TC_PASS_FRAGMENT 1" },
        { "later fragment: no UDP header in it, untouched, not counted", Matching with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], FragmentOffsetUnits = 185 }, TcActUnspec, null, "" },
        { "later fragment with hop limit 1: untouched, its bytes only look like the listener's port", Matching with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], FragmentOffsetUnits = 185, HopLimit = 1 }, TcActUnspec, null, "" },
        { "hop limit 1: dropped as a router drops it", Matching with { HopLimit = 1 }, TcActShot, Matching with { HopLimit = 1 }, "FANOUT_TC_TTL_EXPIRED 1" },
        { "hop limit 0: dropped", Matching with { HopLimit = 0 }, TcActShot, Matching with { HopLimit = 0 }, "FANOUT_TC_TTL_EXPIRED 1" },
        { "first fragment with hop limit 1: dropped, not reassembled and sent on", Matching with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true, HopLimit = 1 }, TcActShot, Matching with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true, HopLimit = 1 }, "FANOUT_TC_TTL_EXPIRED 1" },
        { "zero UDP checksum, invalid in IPv6: to the stack, which drops it", Matching with { ZeroUdpChecksum = true }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "version 4 in an IPv6 frame", Matching with { IpVersion = 4 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "payload length beyond the frame", Matching with { PayloadLength = 8 + 8 + 1 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "payload length shorter than the UDP header", Matching with { PayloadLength = 4 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
        { "payload length short of the UDP header behind an extension header", Matching with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions], PayloadLength = 8 + 4 }, TcActUnspec, null, "FANOUT_TC_PASS_BAD_HEADER 1" },
    };

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Run_Fixture_GivesTheExpectedVerdictFrameAndCounter(string description, Ipv6UdpFrame input, uint verdict, Ipv6UdpFrame? output, string counted)
    {
        var frame = input.Build();

        var (actualVerdict, actualOutput, actualCounted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.True(verdict == actualVerdict, $"{description}: verdict {actualVerdict}, expected {verdict}");
        Assert.Equal(Convert.ToHexString(output?.Build() ?? frame), Convert.ToHexString(actualOutput));
        Assert.Equal(counted, actualCounted);
    }

    [Fact]
    public void Run_RewriteWhoseChecksumComesOutZero_WritesAllOnes()
    {
        // A payload word chosen so that the forwarded datagram's checksum computes to zero: RFC 8200 wants it sent
        // as 0xffff, never as 0 (which would mean "no checksum", refused by every IPv6 receiver).
        var forwarded = Forwarded(Matching with { Payload = [1, 2, 3, 4, 5, 6, 0, 0] });
        var udp = forwarded.Build().AsSpan(forwarded.UdpOffset);
        var word = Ipv6UdpFrame.UdpChecksum(forwarded.Source, forwarded.Destination, udp);
        byte[] payload = [1, 2, 3, 4, 5, 6, (byte)(word >> 8), (byte)word];
        var expected = Forwarded(Matching with { Payload = payload }).Build();
        Assert.Equal(0, Ipv6UdpFrame.UdpChecksum(forwarded.Source, forwarded.Destination, expected.AsSpan(forwarded.UdpOffset)));

        var (verdict, output, _) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), (Matching with { Payload = payload }).Build());

        Assert.Equal(TcActRedirect, verdict);
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(Matching.UdpOffset + 6)));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output));
    }

    [Fact]
    public void Run_LinkPaddingPastThePayloadLength_IsForwarded()
    {
        var frame = (Matching with { Payload = [1, 2] }).Build().Concat(new byte[10]).ToArray();

        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.Equal(TcActRedirect, verdict);
        Assert.Equal("FANOUT_TC_FORWARDED 1", counted);
    }

    [Fact]
    public void Run_OnlyIpv4Downstreams_PassesToTheFallbackAsOtherFamily()
    {
        var frame = Matching.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("v4", Ipv4Downstream)]), frame);

        Assert.Equal(TcActUnspec, verdict);
        Assert.Equal(frame, output);
        Assert.Equal("FANOUT_TC_PASS_OTHER_FAMILY 1", counted);
    }

    [Fact]
    public void Run_BothFamiliesInTheSet_EachDatagramGoesToADownstreamOfItsOwnFamily()
    {
        var any = IPEndPoint.Parse($"[::]:{Listener.Port}");
        var set = new DownstreamSet([new Downstream("v4", Ipv4Downstream), new Downstream("v6", Downstream)]);
        var v6 = Matching with { Destination = IPAddress.Parse("fd91:1::5") };
        var v4 = new Ipv4UdpFrame { Destination = IPAddress.Parse("10.191.1.1"), DestinationPort = Listener.Port };

        var (v6Verdict, v6Output, v6Counted) = RunAndCount(set, v6.Build(), any);
        var (v4Verdict, v4Output, v4Counted) = RunAndCount(set, v4.Build(), any);

        Assert.Equal((TcActRedirect, "FANOUT_TC_FORWARDED 1"), (v6Verdict, v6Counted));
        Assert.Equal(Convert.ToHexString(Forwarded(v6).Build()), Convert.ToHexString(v6Output));
        Assert.Equal((TcActRedirect, "FANOUT_TC_FORWARDED 1"), (v4Verdict, v4Counted));
        var v4Expected = v4 with { Destination = Ipv4Downstream.Address, DestinationPort = Ipv4Downstream.Port, Ttl = (byte)(v4.Ttl - 1) };
        Assert.Equal(Convert.ToHexString(v4Expected.Build()), Convert.ToHexString(v4Output));
    }

    [Fact]
    public void Run_Ipv4ToAnIpv6OnlyListener_PassesUntouchedAndUncounted()
    {
        var frame = new Ipv4UdpFrame { Destination = IPAddress.Parse("10.191.1.1"), DestinationPort = Listener.Port }.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("v4", Ipv4Downstream)]), frame);

        Assert.Equal((TcActUnspec, ""), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_Ipv6ToAnIpv4Listener_PassesUntouchedAndUncounted()
    {
        var frame = Matching.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame, IPEndPoint.Parse($"0.0.0.0:{Listener.Port}"));

        Assert.Equal((TcActUnspec, ""), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Theory]
    [InlineData("no downstream", (int)DropReason.NoDownstream, "FANOUT_TC_NO_DOWNSTREAM 1")]
    [InlineData("every downstream unhealthy", (int)DropReason.NoHealthyDownstream, "FANOUT_TC_NO_HEALTHY_DOWNSTREAM 1")]
    public void Run_EmptySet_DropsWithItsReason(string description, int reason, string counted)
    {
        var (verdict, _, actual) = RunAndCount(new DownstreamSet([], (DropReason)reason), Matching.Build());

        Assert.True(verdict == TcActShot, description);
        Assert.Equal(counted, actual);
    }

    [Fact]
    public void Run_NoRouteToTheDownstream_DropsAndCounts()
    {
        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("far", IPEndPoint.Parse("[fd91:999::5]:6000"))]), Matching.Build());

        Assert.Equal((TcActShot, "FANOUT_TC_NO_ROUTE 1"), (verdict, counted));
    }

    [Fact]
    public void Run_LargerThanTheEgressMtu_PassesAsFragNeeded()
    {
        _ns.Exec("ip link set fxa mtu 1280");
        var frame = (Matching with { Payload = new byte[1300] }).Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.Equal((TcActUnspec, "FANOUT_TC_PASS_FRAG_NEEDED 1"), (verdict, counted));
        Assert.Equal(frame, output);
    }

    [Fact]
    public void Run_ForwardingDisabledOnTheIngressDevice_PassesAsForwardingDisabled()
    {
        _ns.Exec("sysctl -qw net.ipv6.conf.fxb.forwarding=0");
        var frame = Matching.Build();

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.Equal((TcActUnspec, "FANOUT_TC_PASS_FORWARDING_DISABLED 1"), (verdict, counted));
        Assert.Equal(frame, output);
    }

    /// <summary>
    /// The C and C# IPv6 source hashes and the IPv6 set's table agree: for 100,000 random IPv6 sources (address and
    /// port) the program rewrites each datagram to the downstream the C# policy picks for that source. Both hash keys.
    /// </summary>
    [Theory]
    [InlineData(TcProgramFixtureTests.HashKeyName.SourceIpPort, 100_000)]
    [InlineData(TcProgramFixtureTests.HashKeyName.SourceIp, 10_000)]
    public void Run_SourceHashForRandomIpv6Sources_PicksTheDownstreamTheCSharpPolicyPicks(TcProgramFixtureTests.HashKeyName keyName, int sources)
    {
        var hashKey = keyName == TcProgramFixtureTests.HashKeyName.SourceIp ? HashKey.SourceIp : HashKey.SourceIpPort;
        // Ten routable downstreams (permanent neighbours), weighted unevenly so weights travel in the table too.
        var set = Enumerable.Range(0, 10).Select(i => new Downstream($"d{i}", IPEndPoint.Parse($"[fd91:250::{10 + i}]:{6000 + i}")) { Weight = 1 + i % 3 }).ToArray();
        foreach (var d in set)
        {
            _ns.Exec($"ip -6 neigh replace {d.Endpoint.Address} lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        }
        var random = new Random(13);
        var frames = Enumerable.Range(0, sources).Select(_ =>
        {
            var source = new byte[16];
            random.NextBytes(source);
            // Global unicast or ULA, never multicast.
            source[0] = (byte)random.Next(0x20, 0xFE);
            return Matching with { Source = new IPAddress(source), SourcePort = random.Next(1, 65536) };
        }).ToArray();
        var keys = frames.Select(f => SourceHash.Key(new IPEndPoint(f.Source, f.SourcePort), hashKey)).ToArray();
        var expected = new int[keys.Length];
        new MaglevPolicy(set).Pick(keys, expected);

        var chosen = _ns.Invoke(() =>
        {
            using var program = TcProgram.Load(Listener, BalancePolicy.SourceHash, hashKey);
            program.Publish(new DownstreamSet(set));
            var context = Context();
            return frames.Select(f =>
            {
                var (verdict, output) = BpfTestRun.Run(program.ProgramFd, f.Build(), context);
                Assert.Equal(TcActRedirect, verdict);
                // Destination address and port of the rewritten frame: IPv6 at 14, its destination at 24, UDP's port at 42.
                return new IPEndPoint(new IPAddress(output.AsSpan(14 + 24, 16)), BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(14 + 40 + 2)));
            }).ToArray();
        });

        var disagreements = Enumerable.Range(0, sources).Where(i => !chosen[i].Equals(set[expected[i]].Endpoint)).ToArray();
        Assert.True(disagreements.Length == 0, $"{disagreements.Length} of {sources} sources disagree, first {(disagreements.Length > 0 ? $"[{frames[disagreements[0]].Source}]:{frames[disagreements[0]].SourcePort}" : "")}");
        Assert.Equal(10, chosen.Distinct().Count());
    }

    /// <summary>Runs the frame once and says which of the program's counters counted it, and how often.</summary>
    private (uint Verdict, byte[] Output, string Counted) RunAndCount(DownstreamSet set, byte[] frame, IPEndPoint? listener = null) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(listener ?? Listener);
        program.Publish(set);
        var (verdict, output) = BpfTestRun.Run(program.ProgramFd, frame, Context());
        var counted = Enum.GetValues<fanout_tc_stat>().Where(s => s != fanout_tc_stat.FANOUT_TC_STAT_COUNT)
            .Select(s => (Stat: s, program.Read(s).Packets)).Where(c => c.Packets != 0).Select(c => $"{c.Stat} {c.Packets}");
        return (verdict, output, string.Join(", ", counted));
    });

    /// <summary>A __sk_buff saying the frame came in on a forwarding device, as bpf_fib_lookup needs.</summary>
    private byte[] Context()
    {
        var ctx = new byte[NativeLayout.Of("__sk_buff")];
        BinaryPrimitives.WriteInt32LittleEndian(ctx.AsSpan((int)NativeLayout.Of("__sk_buff.ingress_ifindex")), _ingressIfindex);
        BinaryPrimitives.WriteInt32LittleEndian(ctx.AsSpan((int)NativeLayout.Of("__sk_buff.ifindex")), _ingressIfindex);
        return ctx;
    }
}
