namespace UdpFanout.Health;

/// <summary>
/// When each downstream's next probe is due: one sorted queue for every downstream of a listener, instead of a
/// timer per downstream. A downstream that left the set is dropped when its turn comes.
/// </summary>
internal sealed class ProbeSchedule(long interval)
{
    private readonly PriorityQueue<ProbedDownstream, long> _due = new();

    public int Count => _due.Count;

    /// <summary>The earliest due time, or <see cref="long.MaxValue"/> when nothing is scheduled.</summary>
    public long NextDue => _due.TryPeek(out _, out var due) ? due : long.MaxValue;

    public void Add(ProbedDownstream target, long due) => _due.Enqueue(target, due);

    /// <summary>
    /// Moves every tracked downstream due at <paramref name="now"/> into <paramref name="taken"/> and schedules its
    /// next probe whole intervals later, so after a stall each keeps its place in the interval instead of all
    /// bunching up at the same moment.
    /// </summary>
    public void TakeDue(long now, List<ProbedDownstream> taken)
    {
        while (_due.TryPeek(out var target, out var due) && due <= now)
        {
            _due.Dequeue();
            if (!target.Tracked)
            {
                continue;
            }
            taken.Add(target);
            var next = due + interval;
            if (next <= now)
            {
                next += (now - next) / interval * interval + interval;
            }
            _due.Enqueue(target, next);
        }
    }
}
