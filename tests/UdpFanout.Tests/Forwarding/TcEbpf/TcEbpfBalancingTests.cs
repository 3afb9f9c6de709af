using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The balancing policies with real packets through the tc program (the source hashed in BPF, the table in its map):
/// the IPv6 set carries its own weighted order and Maglev table, and an IPv6 source is hashed by fanout_source6_slot.
/// </summary>
public sealed class TcEbpfBalancingTests() : BalancingForwarderTests("ubt", "10.252", ipv6: "fd98")
{
    private protected override ForwardingMode Mode => ForwardingMode.TcEbpf;

    private protected override IListenerForwarder Create(ListenerConfig listener) => new TcEbpfForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None());

    /// <summary>The program walks the family's smooth weighted order with a position per CPU: shares within 1 % of 1/6, 2/6, 3/6.</summary>
    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public Task RoundRobin_Weights123_60000DatagramsSplitByWeightWithin1Percent(string family) => WeightedRoundRobinFollowsWeights(family, 60_000, 0.01);
}
