namespace UdpFanout.Balancing;

/// <summary>Source affinity: each source's hash (<see cref="SourceHash"/>) looks up its downstream in a <see cref="MaglevTable"/>.</summary>
internal sealed class MaglevPolicy : IBalancingPolicy
{
    public MaglevPolicy(IReadOnlyList<Downstream> members)
    {
        Table = MaglevTable.Build(members);
    }

    /// <summary>Slot to member index; the eBPF mode copies it into its map.</summary>
    public int[] Table { get; }

    public bool UsesSource => true;

    public void Pick(ReadOnlySpan<ulong> sources, Span<int> targets)
    {
        var table = Table;
        for (var i = 0; i < targets.Length; i++)
        {
            targets[i] = table[SourceHash.Slot(sources[i], (uint)table.Length)];
        }
    }
}
