using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;

namespace UdpFanout.Tests.Forwarding.Userspace;

/// <summary>The balancing policies with real packets through the userspace mode (sources from recvmmsg).</summary>
public sealed class UserspaceBalancingTests() : BalancingForwarderTests("ubu", "10.250")
{
    private protected override ForwardingMode Mode => ForwardingMode.Userspace;

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new UserspaceForwarder(listener with { Workers = 2 }, NullLogger.Instance, store: null);

    [Fact]
    public Task RoundRobin_Weights123_6000DatagramsSplit1000_2000_3000() => WeightedRoundRobinSplitsExactly();
}
