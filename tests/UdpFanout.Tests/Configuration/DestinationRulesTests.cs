using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

public sealed class DestinationRulesTests
{
    /// <summary>A host with one address besides loopback, as HostAddresses.Read() would give it.</summary>
    private static readonly HostAddresses Host = new([new HostAddress("eth0", IPAddress.Parse("10.0.0.5"), 24), new HostAddress("eth0", IPAddress.Parse("fd00::5"), 64)]);

    [Theory]
    [InlineData("0.0.0.0:6000", "0.0.0.0:6000 is the unspecified address: a datagram sent to 0.0.0.0 is delivered to this host itself, so it comes back into the listeners (a forwarding loop); give the receiver's own address")]
    [InlineData("255.255.255.255:6000", "255.255.255.255:6000 is the broadcast address: every host on the link gets each datagram, this one included (a forwarding loop when it reaches a listener), instead of exactly one receiver")]
    [InlineData("239.1.2.3:6000", "239.1.2.3:6000 is a multicast address: every member of the group gets each datagram, this host too when it has joined the group, instead of exactly one receiver")]
    [InlineData("224.0.0.1:6000", "224.0.0.1:6000 is a multicast address: every member of the group gets each datagram, this host too when it has joined the group, instead of exactly one receiver")]
    [InlineData("10.0.0.255:6000", "10.0.0.255:6000 is the broadcast address of 10.0.0.0/24 on eth0: every host of that subnet gets each datagram, this one included, instead of exactly one receiver")]
    public void Refusal_AddressesThatReachMoreThanOneReceiver_AreRefusedInEveryMode(string destination, string message)
    {
        foreach (var mode in Enum.GetValues<ForwardingMode>())
        {
            Assert.Equal(message, Rules("0.0.0.0:5514", mode).Refusal(IPEndPoint.Parse(destination)));
        }
    }

    [Fact]
    public void Refusal_TheListenersOwnBind_IsALoop() =>
        Assert.Equal("10.0.0.5:5514 is this listener's own bind: every datagram would come back into the listener (a forwarding loop)",
            Rules("10.0.0.5:5514").Refusal(IPEndPoint.Parse("10.0.0.5:5514")));

    [Theory]
    [InlineData("127.0.0.1:5514")]
    [InlineData("127.0.0.53:5514")]
    [InlineData("10.0.0.5:5514")]
    public void Refusal_AnAddressOfThisHostAtThePortOfAListenerOnEveryAddress_IsALoop(string destination) =>
        Assert.Equal($"{destination} is an address of this host, and the listener receives on port 5514 of every local address (bind 0.0.0.0:5514): every datagram would come back into it (a forwarding loop)",
            Rules("0.0.0.0:5514").Refusal(IPEndPoint.Parse(destination)));

    [Theory]
    [InlineData("0.0.0.0:5514", "127.0.0.1:6000")]
    [InlineData("0.0.0.0:5514", "10.0.0.6:5514")]
    [InlineData("10.0.0.5:5514", "127.0.0.1:5514")]
    [InlineData("127.0.0.1:5514", "127.0.0.2:5514")]
    public void Refusal_UserspaceToAnotherPortOrAnotherAddress_IsAllowed(string bind, string destination) =>
        Assert.Null(Rules(bind).Refusal(IPEndPoint.Parse(destination)));

    [Fact]
    public void Refusal_WithoutTheHostsAddresses_OnlyLoopbackIsKnownToBeLocal()
    {
        var rules = new DestinationRules(Listener("0.0.0.0:5514"), HostAddresses.LoopbackOnly);

        Assert.Null(rules.Refusal(IPEndPoint.Parse("10.0.0.5:5514")));
        Assert.NotNull(rules.Refusal(IPEndPoint.Parse("127.0.0.1:5514")));
    }

    [Theory]
    [InlineData("127.0.0.1:6000", "a loopback address")]
    [InlineData("10.0.0.5:6000", "an address of this host")]
    public void Refusal_TcEbpfToThisHost_SaysTheRouteLookupWouldDropEveryDatagram(string destination, string what) =>
        Assert.Equal($"{destination} is {what}: mode tc_ebpf routes each datagram with bpf_fib_lookup, which answers \"local\" for it, so every datagram would be dropped as no_route; use mode userspace or af_xdp to forward to a receiver on this host",
            Rules("10.0.0.5:5514", ForwardingMode.TcEbpf).Refusal(IPEndPoint.Parse(destination)));

    [Fact]
    public void Refusal_OtherModesToThisHostOnAnotherPort_IsAllowed()
    {
        Assert.Null(Rules("10.0.0.5:5514", ForwardingMode.Userspace).Refusal(IPEndPoint.Parse("10.0.0.5:6000")));
        Assert.Null(Rules("10.0.0.5:5514", ForwardingMode.AfXdp).Refusal(IPEndPoint.Parse("127.0.0.1:6000")));
    }

    [Fact]
    public void Refusal_TcEbpfToAnotherHost_IsAllowed() =>
        Assert.Null(Rules("10.0.0.5:5514", ForwardingMode.TcEbpf).Refusal(IPEndPoint.Parse("10.0.0.6:5514")));

    [Theory]
    [InlineData("[::]:6000", "[::]:6000 is the unspecified address: a datagram sent to :: is delivered to this host itself, so it comes back into the listeners (a forwarding loop); give the receiver's own address")]
    [InlineData("[ff02::1]:6000", "[ff02::1]:6000 is a multicast address: every member of the group gets each datagram, this host too when it has joined the group, instead of exactly one receiver")]
    [InlineData("[ff05::1:3]:6000", "[ff05::1:3]:6000 is a multicast address: every member of the group gets each datagram, this host too when it has joined the group, instead of exactly one receiver")]
    public void Refusal_Ipv6AddressesThatReachMoreThanOneReceiver_AreRefused(string destination, string message) =>
        Assert.Equal(message, Rules("[::]:5514").Refusal(IPEndPoint.Parse(destination)));

    [Fact]
    public void Refusal_TheListenersOwnIpv6Bind_IsALoop() =>
        Assert.Equal("[fd00::5]:5514 is this listener's own bind: every datagram would come back into the listener (a forwarding loop)",
            Rules("[fd00::5]:5514").Refusal(IPEndPoint.Parse("[fd00::5]:5514")));

    /// <summary>A listener on [::] is dual-stack, so it receives on every local address of both families.</summary>
    [Theory]
    [InlineData("[::1]:5514")]
    [InlineData("[fd00::5]:5514")]
    [InlineData("10.0.0.5:5514")]
    [InlineData("127.0.0.1:5514")]
    public void Refusal_AnAddressOfThisHostAtThePortOfADualStackListener_IsALoop(string destination) =>
        Assert.Equal($"{destination} is an address of this host, and the listener receives on port 5514 of every local address (bind [::]:5514): every datagram would come back into it (a forwarding loop)",
            Rules("[::]:5514").Refusal(IPEndPoint.Parse(destination)));

    [Theory]
    [InlineData("0.0.0.0:5514", "[::1]:5514")]
    [InlineData("0.0.0.0:5514", "[fd00::5]:5514")]
    [InlineData("[::]:5514", "[fd00::6]:5514")]
    [InlineData("[fd00::5]:5514", "10.0.0.5:5514")]
    public void Refusal_AnotherFamilyOrAnotherHost_IsAllowed(string bind, string destination) =>
        Assert.Null(Rules(bind).Refusal(IPEndPoint.Parse(destination)));

    private static DestinationRules Rules(string bind, ForwardingMode mode = ForwardingMode.Userspace) =>
        new(Listener(bind) with { Mode = mode }, Host);

    private static ListenerConfig Listener(string bind) => new() { Name = "syslog", Bind = IPEndPoint.Parse(bind) };
}
