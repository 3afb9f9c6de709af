using System.Net;

namespace UdpFanout.Balancing;

/// <summary>
/// A receiver in the rotation. Equal by name and address only, so a reload that keeps a downstream keeps its
/// counters and health even when its weight changes.
/// </summary>
internal sealed record Downstream(string Name, IPEndPoint Endpoint)
{
    /// <summary>Its share relative to the others; 0 drains it (out of the set, still checked and counted).</summary>
    public int Weight { get; init; } = 1;

    public bool Equals(Downstream? other) =>
        other is not null && Name == other.Name && Endpoint.Equals(other.Endpoint);

    public override int GetHashCode() => HashCode.Combine(Name, Endpoint);

    public override string ToString() => Weight == 1 ? $"{Name} ({Endpoint})" : $"{Name} ({Endpoint}, weight {Weight})";
}
