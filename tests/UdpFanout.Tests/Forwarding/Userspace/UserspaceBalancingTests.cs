using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;

namespace UdpFanout.Tests.Forwarding.Userspace;

/// <summary>The balancing policies with real packets through the userspace mode (sources from recvmmsg, as sockaddr_in or sockaddr_in6).</summary>
public sealed class UserspaceBalancingTests() : BalancingForwarderTests("ubu", "10.250", ipv6: "fd90")
{
    private protected override ForwardingMode Mode => ForwardingMode.Userspace;

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new UserspaceForwarder(listener with { Workers = 2 }, NullLogger.Instance, store: null);

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public Task RoundRobin_Weights123_6000DatagramsSplit1000_2000_3000(string family) => WeightedRoundRobinSplitsExactly(family);
}
