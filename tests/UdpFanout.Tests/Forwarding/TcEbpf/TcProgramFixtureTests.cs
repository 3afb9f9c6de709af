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
/// expected output frame}. It runs in a namespace where the downstream has a route and a neighbour, with
/// forwarding on, as on a real proxy.
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

    private readonly NetworkNamespace _ns = new($"uftfx{Environment.ProcessId % 10000:x}");
    private readonly int _ingressIfindex;

    public TcProgramFixtureTests()
    {
        _ns.Exec("ip link add fxa type veth peer name fxb");
        _ns.Exec("ip addr add 10.201.250.1/24 dev fxa");
        _ns.Exec("ip link set fxa up");
        _ns.Exec("ip link set fxb up");
        _ns.Exec("ip neigh add 10.201.250.2 lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        _ns.Exec("sysctl -qw net.ipv4.ip_forward=1");
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

        var (verdict, output, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

        Assert.True(verdict == TcActUnspec, $"{description}: verdict {verdict}");
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(output));
        Assert.Equal($"{fanout_tc_stat.FANOUT_TC_PASS_BAD_HEADER} 1", counted);
    }

    [Fact]
    public void Run_LinkPaddingPastTheTotalLength_IsForwarded()
    {
        // Ethernet pads short frames to 60 bytes: bytes past the IP total length are not a bad header.
        var matching = new Ipv4UdpFrame { Destination = Listener.Address, DestinationPort = Listener.Port, Payload = [1, 2] };
        var frame = matching.Build().Concat(new byte[60 - 14 - 20 - 8 - 2]).ToArray();

        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

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

        var (verdict, _, counted) = RunAndCount(new DownstreamSet([new Downstream("d", Downstream)]), frame);

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
    public void Run_NoDownstream_DropsAndCounts()
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address }.Build();

        var (verdict, stats) = RunAndRead(DownstreamSet.Empty, frame, fanout_tc_stat.FANOUT_TC_NO_DOWNSTREAM);

        Assert.Equal(TcActShot, verdict);
        Assert.Equal(1, stats);
    }

    [Fact]
    public void Run_EveryDownstreamUnhealthy_DropsAsNoHealthyDownstream()
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address }.Build();

        var (verdict, _, counted) = RunAndCount(new DownstreamSet([], DropReason.NoHealthyDownstream), frame);

        Assert.Equal(TcActShot, verdict);
        Assert.Equal($"{fanout_tc_stat.FANOUT_TC_NO_HEALTHY_DOWNSTREAM} 1", counted);
    }

    [Fact]
    public void Run_NoRouteToTheDownstream_DropsAndCounts()
    {
        var frame = new Ipv4UdpFrame { Destination = Listener.Address }.Build();
        var unroutable = new Downstream("far", IPEndPoint.Parse("203.0.113.5:6000"));

        var (verdict, stats) = RunAndRead(new DownstreamSet([unroutable]), frame, fanout_tc_stat.FANOUT_TC_NO_ROUTE);

        Assert.Equal(TcActShot, verdict);
        Assert.Equal(1, stats);
    }

    /// <summary>
    /// The C and C# hashes and the table the program reads agree: for 100,000 random sources (address and port)
    /// the program rewrites each datagram to the downstream the C# policy picks for that source. Both hash keys.
    /// </summary>
    [Theory]
    [InlineData(HashKeyName.SourceIpPort, 100_000)]
    [InlineData(HashKeyName.SourceIp, 10_000)]
    public void Run_SourceHashForRandomSources_PicksTheDownstreamTheCSharpPolicyPicks(HashKeyName keyName, int sources)
    {
        var hashKey = keyName == HashKeyName.SourceIp ? HashKey.SourceIp : HashKey.SourceIpPort;
        // Ten routable downstreams (permanent neighbours), weighted unevenly so weights travel in the table too.
        var set = Enumerable.Range(0, 10).Select(i => new Downstream($"d{i}", IPEndPoint.Parse($"10.201.250.{10 + i}:{6000 + i}")) { Weight = 1 + i % 3 }).ToArray();
        foreach (var d in set)
        {
            _ns.Exec($"ip neigh replace {d.Endpoint.Address} lladdr 02:00:00:00:00:99 dev fxa nud permanent");
        }
        var random = new Random(12);
        var frames = Enumerable.Range(0, sources).Select(_ => new Ipv4UdpFrame
        {
            Destination = Listener.Address,
            DestinationPort = Listener.Port,
            Source = new IPAddress(random.NextInt64(1, uint.MaxValue)),
            SourcePort = random.Next(1, 65536),
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
                // Destination address and port of the rewritten frame: IPv4 at 14, its destination at 16, UDP's port at 22.
                return new IPEndPoint(new IPAddress(output.AsSpan(14 + 16, 4)), BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(14 + 20 + 2)));
            }).ToArray();
        });

        var disagreements = Enumerable.Range(0, sources).Where(i => !chosen[i].Equals(set[expected[i]].Endpoint)).ToArray();
        Assert.True(disagreements.Length == 0, $"{disagreements.Length} of {sources} sources disagree, first {(disagreements.Length > 0 ? frames[disagreements[0]].Source + ":" + frames[disagreements[0]].SourcePort : "")}");
        Assert.Equal(10, chosen.Distinct().Count());
    }

    /// <summary>The hash keys, public for the theory's data (the config's enum is internal).</summary>
    public enum HashKeyName
    {
        SourceIp,
        SourceIpPort,
    }

    private (uint Verdict, byte[] Output) RunProgram(DownstreamSet set, byte[] frame) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(Listener);
        program.Publish(set);
        return BpfTestRun.Run(program.ProgramFd, frame, Context());
    });

    private (uint Verdict, long Count) RunAndRead(DownstreamSet set, byte[] frame, fanout_tc_stat stat) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(Listener);
        program.Publish(set);
        var (verdict, _) = BpfTestRun.Run(program.ProgramFd, frame, Context());
        return (verdict, program.Read(stat).Packets);
    });

    /// <summary>Runs the frame once and says which of the program's counters counted it, and how often.</summary>
    private (uint Verdict, byte[] Output, string Counted) RunAndCount(DownstreamSet set, byte[] frame) => _ns.Invoke(() =>
    {
        using var program = TcProgram.Load(Listener);
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
