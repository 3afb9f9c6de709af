using UdpFanout.Model;

namespace UdpFanout.Balancing;

/// <summary>
/// The immutable set of downstreams a listener forwards to right now. Forwarders swap whole sets, never edit one,
/// so a datagram sees either the old set or the new one.
/// </summary>
internal sealed class DownstreamSet
{
    public DownstreamSet(IEnumerable<Downstream> members, DropReason reasonWhenEmpty = DropReason.NoDownstream)
    {
        Members = members.ToArray();
        ReasonWhenEmpty = reasonWhenEmpty;
    }

    public static DownstreamSet Empty { get; } = new([]);

    public IReadOnlyList<Downstream> Members { get; }

    /// <summary>Why a datagram is dropped while the set is empty: none configured, or none healthy.</summary>
    public DropReason ReasonWhenEmpty { get; }

    /// <summary>The first few members for a log line (never all of 10,000), or why the set is empty.</summary>
    public override string ToString() => Members.Count == 0 ? $"(empty: {ReasonWhenEmpty.MetricLabel()})" : DownstreamNames.Summary(Members);
}
