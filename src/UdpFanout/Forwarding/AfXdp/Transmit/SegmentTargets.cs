namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>
/// The path to each downstream of one <see cref="ActiveDownstreams"/>, at the same index. Immutable, replaced
/// whole when a neighbour, a route or the set changes; a worker that finds it made for another set than the one
/// its batch uses sends that batch through the kernel (a moment after a set change, until the new one is built).
/// </summary>
internal sealed class SegmentTargets(ActiveDownstreams? @for, SegmentTarget[] targets)
{
    public static readonly SegmentTargets None = new(null, []);

    public ActiveDownstreams? For { get; } = @for;

    public SegmentTarget[] Targets { get; } = targets;
}
