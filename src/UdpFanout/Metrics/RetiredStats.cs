using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;

namespace UdpFanout.Metrics;

/// <summary>
/// The final counters of listener instances that were stopped or restarted, added to their successors' so that
/// exported counters stay monotonic across reloads, until the metrics retire the series of a listener or
/// downstream that left the config.
/// </summary>
internal sealed class RetiredStats
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Listener, ForwardingMode Mode), (ListenerConfig Config, ListenerStats Stats)> _byListener = new();

    public void Add(ListenerConfig listener, ListenerStats stats)
    {
        lock (_gate)
        {
            var key = (listener.Name, listener.Mode);
            _byListener[key] = _byListener.TryGetValue(key, out var earlier) ? (listener, Sum(earlier.Stats, stats)) : (listener, stats);
        }
    }

    /// <summary>Adds the final counters of <paramref name="listener"/>'s retired instances, if any, to its running one's.</summary>
    public StatsBuilder AddTo(StatsBuilder stats, ListenerConfig listener)
    {
        lock (_gate)
        {
            return _byListener.TryGetValue((listener.Name, listener.Mode), out var retired) ? stats.Add(retired.Stats) : stats;
        }
    }

    /// <summary>The listeners that stopped, not running again under the same name and mode, with their final counters.</summary>
    public IReadOnlyList<(ListenerConfig Listener, ListenerStats Stats)> Stopped(IReadOnlyList<IRunningListener> running)
    {
        lock (_gate)
        {
            return _byListener.Values
                .Where(r => !running.Any(l => l.Config.Name == r.Config.Name && l.Config.Mode == r.Config.Mode))
                .ToArray();
        }
    }

    /// <summary>
    /// Forgets a stopped listener whose series were retired, if its counters are still <paramref name="seen"/>
    /// (an instance retired since then keeps its counts).
    /// </summary>
    public void Remove(ListenerConfig listener, ListenerStats seen)
    {
        lock (_gate)
        {
            var key = (listener.Name, listener.Mode);
            if (_byListener.TryGetValue(key, out var entry) && ReferenceEquals(entry.Stats, seen))
            {
                _byListener.Remove(key);
            }
        }
    }

    /// <summary>Forgets what retired instances of <paramref name="listener"/> sent to downstreams whose series were retired.</summary>
    public void ForgetDownstreams(ListenerConfig listener, IReadOnlyCollection<Downstream> gone)
    {
        lock (_gate)
        {
            var key = (listener.Name, listener.Mode);
            if (_byListener.TryGetValue(key, out var entry))
            {
                var kept = entry.Stats.Downstreams.Where(d => !gone.Contains(d.Downstream)).ToArray();
                _byListener[key] = (entry.Config, entry.Stats with { Downstreams = kept });
            }
        }
    }

    private static ListenerStats Sum(ListenerStats a, ListenerStats b) => new StatsBuilder().Add(a).Add(b).Build();
}
