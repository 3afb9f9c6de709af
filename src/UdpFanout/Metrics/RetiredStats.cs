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

    public IEnumerable<(ListenerConfig Listener, ListenerStats Stats)> CombineWith(IEnumerable<(ListenerConfig Config, ListenerStats Stats)> live)
    {
        Dictionary<(string, ForwardingMode), (ListenerConfig, ListenerStats)> combined;
        lock (_gate)
        {
            combined = new(_byListener);
        }
        foreach (var (config, stats) in live)
        {
            var key = (config.Name, config.Mode);
            combined[key] = combined.TryGetValue(key, out var retired) ? (config, Sum(retired.Item2, stats)) : (config, stats);
        }
        return combined.Values;
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
