using UdpFanout.Balancing;

namespace UdpFanout.Health;

/// <summary>The scratch space of one round of the checker's loop, allocated once and cleared after each round.</summary>
internal sealed class HealthRound
{
    public List<ProbedDownstream> Due { get; } = [];
    public List<ProbedDownstream> Expired { get; } = [];
    public List<Downstream> WentDown { get; } = [];
    public List<Downstream> CameUp { get; } = [];
    public OutgoingProbe[] Outgoing { get; } = new OutgoingProbe[ProbeSocket.Batch];
    public byte[] Tokens { get; } = new byte[ProbeSocket.Batch * 16];
    public ProbeReply[] Replies { get; } = new ProbeReply[ProbeSocket.Batch];

    public void Clear()
    {
        Due.Clear();
        Expired.Clear();
        WentDown.Clear();
        CameUp.Clear();
    }
}
