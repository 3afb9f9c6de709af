namespace UdpFanout.Balancing;

/// <summary>
/// Picks the downstream of each datagram of a batch. One instance serves one downstream set and is replaced with
/// it, so it may precompute what it needs (a weighted order, a Maglev table); <see cref="Pick"/> runs on every
/// worker at once, per batch, and must neither allocate nor lock.
/// </summary>
internal interface IBalancingPolicy
{
    /// <summary>False when <see cref="Pick"/> ignores the sources, so workers need not read them.</summary>
    bool UsesSource { get; }

    /// <summary>
    /// Sets <c>targets[i]</c> to the index in the set of the downstream for datagram <c>i</c>, whose source is
    /// <c>sources[i]</c> (see <see cref="SourceHash.Key"/>); the spans have the same length, the set is not empty.
    /// </summary>
    void Pick(ReadOnlySpan<ulong> sources, Span<int> targets);
}
