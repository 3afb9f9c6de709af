using UdpFanout.Balancing;

namespace UdpFanout.Forwarding;

/// <summary>
/// The per-downstream counters of a listener's workers: one for each downstream that has been in the set. A
/// counter outlives its downstream's absences from the set (health takes it out and brings it back) and goes only
/// when <see cref="Forget"/> is told that the downstream left the config for good.
/// </summary>
internal sealed class DownstreamCounters
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Downstream, DownstreamCounter> _counters = [];
    private IReadOnlyList<Downstream> _current = [];

    /// <summary>The set in the form workers use, with the counter of each member.</summary>
    public ActiveDownstreams Activate(DownstreamSet set, Func<IReadOnlyList<Downstream>, IBalancingPolicy> policyFor)
    {
        lock (_gate)
        {
            _current = set.Members;
            return new ActiveDownstreams(set, CounterOf, policyFor);
        }
    }

    public void AddTo(StatsBuilder stats)
    {
        lock (_gate)
        {
            foreach (var (downstream, counter) in _counters)
            {
                stats.AddDownstream(downstream, counter);
            }
        }
    }

    /// <summary>
    /// Drops the counters of <paramref name="gone"/>, except of a downstream that is in the set again: workers
    /// may be adding to its counter right now.
    /// </summary>
    public void Forget(IEnumerable<Downstream> gone)
    {
        lock (_gate)
        {
            foreach (var downstream in gone.Where(d => !_current.Contains(d)))
            {
                _counters.Remove(downstream);
            }
        }
    }

    private DownstreamCounter CounterOf(Downstream downstream)
    {
        if (!_counters.TryGetValue(downstream, out var counter))
        {
            counter = new DownstreamCounter();
            _counters[downstream] = counter;
        }
        return counter;
    }
}
