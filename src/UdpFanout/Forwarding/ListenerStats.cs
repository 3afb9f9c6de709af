using UdpFanout.Model;
namespace UdpFanout.Forwarding;

/// <summary>
/// A snapshot of a listener's monotonic counters. Invariant: Received = Forwarded + sum(Dropped), up to the
/// datagrams in flight while the snapshot is taken.
/// </summary>
internal sealed record ListenerStats
{
    public long Received { get; init; }
    public long ReceivedBytes { get; init; }
    public long Forwarded { get; init; }
    public long ForwardedBytes { get; init; }
    /// <summary>Indexed by <see cref="DropReason"/>.</summary>
    public required long[] Dropped { get; init; }
    public required IReadOnlyList<DownstreamStats> Downstreams { get; init; }
    public IReadOnlyList<ModeCounter> ModeCounters { get; init; } = [];
    /// <summary>What the running instance's mode reports about itself; empty once it stopped.</summary>
    public IReadOnlyList<ModeInfo> ModeInfos { get; init; } = [];
    /// <summary>Errors the network reported for datagrams already counted as forwarded; only non-zero ones.</summary>
    public IReadOnlyList<DownstreamIcmpErrors> IcmpErrors { get; init; } = [];

    public long DroppedTotal => Dropped.Sum();
}
