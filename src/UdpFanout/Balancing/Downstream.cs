using System.Net;

namespace UdpFanout.Balancing;

/// <summary>A receiver in the rotation. Equal by name and address, so a reload that keeps a downstream keeps its counters.</summary>
internal sealed record Downstream(string Name, IPEndPoint Endpoint)
{
    public override string ToString() => $"{Name} ({Endpoint})";
}
