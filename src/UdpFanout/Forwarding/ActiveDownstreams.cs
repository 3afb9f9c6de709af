using UdpFanout.Balancing;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// A <see cref="DownstreamSet"/> in the form the workers use: addresses ready for sendmmsg, the counter of each
/// downstream at the same index, and the policy that picks among them. Immutable; replaced whole.
/// </summary>
internal sealed class ActiveDownstreams
{
    public ActiveDownstreams(DownstreamSet set, Func<Downstream, DownstreamCounter> counterOf, Func<IReadOnlyList<Downstream>, IBalancingPolicy> policyFor)
    {
        Addresses = set.Members.Select(d => sockaddr_inet.From(d.Endpoint)).ToArray();
        Counters = set.Members.Select(counterOf).ToArray();
        ReasonWhenEmpty = set.ReasonWhenEmpty;
        Policy = policyFor(set.Members);
        Sources = new DownstreamSources(Addresses);
    }

    /// <summary>Of either family, as a listener may forward to IPv4 and IPv6 downstreams together.</summary>
    public sockaddr_inet[] Addresses { get; }

    public DownstreamCounter[] Counters { get; }

    public DropReason ReasonWhenEmpty { get; }

    public IBalancingPolicy Policy { get; }

    /// <summary>The source address of each IPv6 downstream, for sockets bound to the wildcard (<see cref="SendBatch"/>).</summary>
    public DownstreamSources Sources { get; }

    public int Count => Addresses.Length;
}
