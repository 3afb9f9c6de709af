using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>The balancing policies with real packets through the af_xdp mode (sources parsed from the frames, IPv4 or IPv6).</summary>
public sealed class AfXdpBalancingTests() : BalancingForwarderTests("ubx", "10.251", ipv6: "fd91")
{
    private protected override ForwardingMode Mode => ForwardingMode.AfXdp;

    private protected override IListenerForwarder Create(ListenerConfig listener) => new AfXdpForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None());

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public Task RoundRobin_Weights123_6000DatagramsSplit1000_2000_3000(string family) => WeightedRoundRobinSplitsExactly(family);
}
