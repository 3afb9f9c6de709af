using UdpFanout.Balancing;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// A <see cref="DownstreamSet"/> in the form the workers use: addresses ready for sendmmsg and the counter of
/// each downstream at the same index. Immutable; replaced whole.
/// </summary>
internal sealed class ActiveDownstreams
{
    public ActiveDownstreams(DownstreamSet set, Func<Downstream, DownstreamCounter> counterOf)
    {
        Addresses = set.Members.Select(d => sockaddr_in.From(d.Endpoint)).ToArray();
        Counters = set.Members.Select(counterOf).ToArray();
        ReasonWhenEmpty = set.ReasonWhenEmpty;
    }

    public sockaddr_in[] Addresses { get; }

    public DownstreamCounter[] Counters { get; }

    public DropReason ReasonWhenEmpty { get; }

    public int Count => Addresses.Length;
}
