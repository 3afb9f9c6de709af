using Prometheus;

namespace UdpFanout.Metrics;

/// <summary>
/// Gauges whose label sets come and go with the config (downstreams, listeners with discovery): each scrape sets
/// the series that exist now, and series not set since the last scrape are removed instead of showing stale values.
/// Not thread-safe: the caller runs one scrape at a time.
/// </summary>
internal sealed class GaugeSeries(params Gauge[] gauges)
{
    private readonly HashSet<string[]> _previous = new(StringArrayComparer.Instance);
    private readonly HashSet<string[]> _current = new(StringArrayComparer.Instance);

    /// <summary>Sets the series <paramref name="labels"/> of each gauge, in the order the gauges were given.</summary>
    public void Set(string[] labels, params double[] values)
    {
        for (var i = 0; i < gauges.Length; i++)
        {
            gauges[i].WithLabels(labels).Set(values[i]);
        }
        _current.Add(labels);
    }

    /// <summary>Ends a scrape: removes the series that were not set during it.</summary>
    public void RemoveUnset()
    {
        foreach (var gone in _previous.Except(_current, StringArrayComparer.Instance))
        {
            foreach (var gauge in gauges)
            {
                gauge.RemoveLabelled(gone);
            }
        }
        _previous.Clear();
        _previous.UnionWith(_current);
        _current.Clear();
    }
}
