using UdpFanout.Balancing;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>A downstream the checker probes: where its probes go, its health, and when its next probe is due.</summary>
internal sealed class ProbedDownstream(Downstream downstream, sockaddr_inet destination, DownstreamHealth health)
{
    public Downstream Downstream { get; } = downstream;

    /// <summary>The downstream's address, at <c>probe_port</c> when set; ICMP echo's port is 0.</summary>
    public sockaddr_inet Destination { get; } = destination;

    /// <summary>Read and written by the checker's loop only; a field, so that recording a probe changes it in place.</summary>
    public DownstreamHealth Health = health;

    /// <summary>False once it left the set: its scheduled probe is dropped and replies in flight no longer count.</summary>
    public volatile bool Tracked = true;
}
