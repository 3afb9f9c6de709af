namespace UdpFanout.Health;

/// <summary>
/// The probes sent and not yet answered, by token, with their deadlines in one queue: every probe of a checker has
/// the same timeout, so deadlines come in the order the probes were sent and the queue stays sorted by itself.
/// </summary>
internal sealed class InFlightProbes
{
    private readonly Dictionary<UInt128, (ProbedDownstream Target, OutgoingProbe Probe)> _byToken = [];
    private readonly Queue<(UInt128 Token, long Deadline)> _deadlines = new();

    public int Count => _byToken.Count;

    /// <summary>The earliest deadline, or <see cref="long.MaxValue"/> when nothing is in flight.</summary>
    public long NextDeadline => _deadlines.TryPeek(out var first) ? first.Deadline : long.MaxValue;

    public void Add(ProbedDownstream target, in OutgoingProbe probe, long deadline)
    {
        _byToken[probe.Token] = (target, probe);
        _deadlines.Enqueue((probe.Token, deadline));
    }

    /// <summary>
    /// The downstream a reply answers: its token is in flight and it came from where that probe went. A reply
    /// with another token, or with the right token from anywhere else, is ignored and the probe keeps waiting
    /// for the real answer.
    /// </summary>
    public ProbedDownstream? Complete(in ProbeReply reply, ProbeSocket socket)
    {
        if (!_byToken.TryGetValue(reply.Token, out var sent) || !socket.Matches(sent.Probe, reply))
        {
            return null;
        }
        _byToken.Remove(reply.Token);
        return sent.Target;
    }

    /// <summary>Moves every probe whose deadline is before <paramref name="now"/> and that has no answer into <paramref name="expired"/>.</summary>
    public void Expire(long now, List<ProbedDownstream> expired)
    {
        while (_deadlines.TryPeek(out var first) && first.Deadline < now)
        {
            _deadlines.Dequeue();
            if (_byToken.Remove(first.Token, out var sent))
            {
                expired.Add(sent.Target);
            }
        }
    }
}
