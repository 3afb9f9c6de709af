using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The balancing policies with real IPv6 packets through the tc program: the IPv6 set carries its own weighted
/// order and Maglev table, and the source is hashed by fanout_source6_slot.
/// </summary>
public sealed class TcEbpfBalancingIpv6Tests() : BalancingForwarderTests("um8b", "10.198", ipv6: "fd98")
{
    private protected override ForwardingMode Mode => ForwardingMode.TcEbpf;

    private protected override IListenerForwarder Create(ListenerConfig listener) => new TcEbpfForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None());

    /// <summary>The program walks the IPv6 set's smooth weighted order with a position per CPU: shares within 1 % of 1/6, 2/6, 3/6.</summary>
    [Fact]
    public Task RoundRobin_Weights123_60000DatagramsSplitByWeightWithin1Percent() => WeightedRoundRobinFollowsWeights(60_000, 0.01);
}
