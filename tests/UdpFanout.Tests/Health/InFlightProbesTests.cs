using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Health;
using static Interop.Libc;

namespace UdpFanout.Tests.Health;

public sealed class InFlightProbesTests
{
    private static readonly IPEndPoint Probed = IPEndPoint.Parse("127.0.0.9:7000");

    [Fact]
    public void Complete_RightTokenFromTheProbedAddressAndPort_AnswersTheProbeOnce()
    {
        using var socket = UdpEchoSocket.Open();
        var (inFlight, target, probe) = OneInFlight(Probed);
        var reply = ReplyFrom(Probed, probe.Token);

        Assert.Same(target, inFlight.Complete(reply, socket));
        Assert.Null(inFlight.Complete(reply, socket));
    }

    [Theory]
    [InlineData("127.0.0.10:7000", false, "another address")]
    [InlineData("127.0.0.9:7001", false, "another port")]
    [InlineData("127.0.0.9:7000", true, "a wrong token")]
    public void Complete_Spoofed_NeverCountsAndTheProbeKeepsWaiting(string from, bool wrongToken, string what)
    {
        using var socket = UdpEchoSocket.Open();
        var (inFlight, target, probe) = OneInFlight(Probed);

        Assert.True(inFlight.Complete(ReplyFrom(IPEndPoint.Parse(from), wrongToken ? probe.Token + 1 : probe.Token), socket) is null, what);
        Assert.Same(target, inFlight.Complete(ReplyFrom(Probed, probe.Token), socket));
    }

    /// <summary>The same over IPv6: all 128 bits of the address, the port and the token must match.</summary>
    [Theory]
    [InlineData("[fd90:1::10]:7000", false, "another address")]
    [InlineData("[fd90:1::1:9]:7000", false, "an address that differs in the high bits of the interface identifier only")]
    [InlineData("[fd90:1::9]:7001", false, "another port")]
    [InlineData("[fd90:1::9]:7000", true, "a wrong token")]
    [InlineData("127.0.0.9:7000", false, "an IPv4 address")]
    public void Complete_SpoofedOverIpv6_NeverCountsAndTheProbeKeepsWaiting(string from, bool wrongToken, string what)
    {
        using var socket = UdpEchoSocket.Open();
        var probed = IPEndPoint.Parse("[fd90:1::9]:7000");
        var (inFlight, target, probe) = OneInFlight(probed);

        Assert.True(inFlight.Complete(ReplyFrom(IPEndPoint.Parse(from), wrongToken ? probe.Token + 1 : probe.Token), socket) is null, what);
        Assert.Same(target, inFlight.Complete(ReplyFrom(probed, probe.Token), socket));
    }

    [Fact]
    public void Complete_IcmpReplyWithAnotherSequence_NeverCounts()
    {
        using var socket = IcmpEchoSocket.Open();
        var (inFlight, target, probe) = OneInFlight(new IPEndPoint(Probed.Address, 0), sequence: 7);
        var reply = ReplyFrom(new IPEndPoint(Probed.Address, 0), probe.Token);

        Assert.Null(inFlight.Complete(reply with { Sequence = 8 }, socket));
        Assert.Same(target, inFlight.Complete(reply with { Sequence = 7 }, socket));
    }

    [Fact]
    public void Expire_UnansweredBeforeNow_ExpiresInDeadlineOrderAndAnsweredOnesNever()
    {
        var inFlight = new InFlightProbes();
        var targets = Enumerable.Range(0, 3).Select(i => Target(new IPEndPoint(Probed.Address, 7000 + i))).ToArray();
        for (var i = 0; i < 3; i++)
        {
            inFlight.Add(targets[i], new OutgoingProbe { Destination = targets[i].Destination, Token = (UInt128)i }, deadline: 100 + i);
        }
        using var socket = UdpEchoSocket.Open();
        inFlight.Complete(ReplyFrom(new IPEndPoint(Probed.Address, 7001), 1), socket);
        var expired = new List<ProbedDownstream>();

        inFlight.Expire(now: 102, expired);

        Assert.Equal([targets[0]], expired);
        Assert.Equal(102, inFlight.NextDeadline);
        inFlight.Expire(now: 103, expired);
        Assert.Equal([targets[0], targets[2]], expired);
        Assert.Equal(0, inFlight.Count);
    }

    private static (InFlightProbes, ProbedDownstream, OutgoingProbe) OneInFlight(IPEndPoint destination, ushort sequence = 0)
    {
        var inFlight = new InFlightProbes();
        var target = Target(destination);
        var probe = new OutgoingProbe { Destination = target.Destination, Token = UInt128.MaxValue / 3, Sequence = sequence };
        inFlight.Add(target, probe, deadline: long.MaxValue);
        return (inFlight, target, probe);
    }

    private static ProbedDownstream Target(IPEndPoint destination) =>
        new(new Downstream("d", destination), sockaddr_inet.From(destination), new DownstreamHealth(1, 1));

    private static ProbeReply ReplyFrom(IPEndPoint from, UInt128 token) => new() { Token = token, From = sockaddr_inet.From(from) };
}
