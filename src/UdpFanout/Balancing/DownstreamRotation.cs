using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Balancing;

/// <summary>
/// Decides which downstreams of one listener are in the rotation, from the configured ones and their health,
/// and publishes every change as a new <see cref="DownstreamSet"/>. This is the single update path for reload,
/// discovery and health in every mode.
/// </summary>
internal sealed class DownstreamRotation
{
    private readonly Lock _gate = new();
    private readonly Action<DownstreamSet> _publish;
    private bool _failOpen;
    private readonly HashSet<Downstream> _down = [];
    private IReadOnlyList<Downstream> _static = [];
    private IReadOnlyList<Downstream> _discovered = [];
    private IReadOnlyList<Downstream> _configured = [];
    private HashSet<Downstream> _configuredSet = [];

    public DownstreamRotation(Action<DownstreamSet> publish) => _publish = publish;

    /// <summary>When every downstream is down: true keeps sending to all of them, false drops.</summary>
    public bool FailOpen
    {
        set
        {
            lock (_gate)
            {
                _failOpen = value;
                Recompute();
            }
        }
    }

    public DownstreamSet Current { get; private set; } = DownstreamSet.Empty;

    public IReadOnlyList<Downstream> Configured
    {
        get
        {
            lock (_gate)
            {
                return _configured;
            }
        }
    }

    /// <summary>Whether <paramref name="downstream"/> is configured now, statically or by discovery.</summary>
    public bool IsConfigured(Downstream downstream)
    {
        lock (_gate)
        {
            return _configuredSet.Contains(downstream);
        }
    }

    /// <summary>Every configured downstream and whether it is up, for the <c>udp_fanout_downstream_up</c> gauge.</summary>
    public IReadOnlyList<(Downstream Downstream, bool Up)> Health
    {
        get
        {
            var health = new List<(Downstream, bool)>();
            ReadHealth(health);
            return health;
        }
    }

    /// <summary>What <see cref="Health"/> says, added to a list the caller keeps: a scrape reuses its room.</summary>
    public void ReadHealth(List<(Downstream Downstream, bool Up)> into)
    {
        lock (_gate)
        {
            foreach (var downstream in _configured)
            {
                into.Add((downstream, !_down.Contains(downstream)));
            }
        }
    }

    /// <summary>The downstreams health checks have taken out.</summary>
    public IReadOnlyList<Downstream> Down
    {
        get
        {
            lock (_gate)
            {
                return [.. _down];
            }
        }
    }

    /// <summary>The downstreams discovery found, as last set.</summary>
    public IReadOnlyList<Downstream> Discovered
    {
        get
        {
            lock (_gate)
            {
                return _discovered;
            }
        }
    }

    /// <summary>Replaces the static downstreams (the <c>downstream:</c> list, at start and on reload).</summary>
    public void SetConfigured(IEnumerable<DownstreamConfig> downstreams)
    {
        lock (_gate)
        {
            _static = downstreams.Select(d => new Downstream(d.Name, d.Address) { Weight = d.Weight }).ToArray();
            Combine();
        }
    }

    /// <summary>Replaces the downstreams found by discovery; they join the static ones.</summary>
    public void SetDiscovered(IReadOnlyList<Downstream> downstreams)
    {
        lock (_gate)
        {
            _discovered = downstreams;
            Combine();
        }
    }

    /// <summary>Forgets health verdicts (health checks turned off or restarted): every downstream counts as up.</summary>
    public void ClearHealth()
    {
        lock (_gate)
        {
            if (_down.Count > 0)
            {
                _down.Clear();
                Recompute();
            }
        }
    }

    public void SetHealth(Downstream downstream, bool up) => SetHealth([(downstream, up)]);

    /// <summary>
    /// Applies many verdicts as one change: a thousand downstreams that go down together publish one new set, not a
    /// thousand sets that each cost the data path a swap.
    /// </summary>
    public void SetHealth(IReadOnlyCollection<(Downstream Downstream, bool Up)> verdicts)
    {
        lock (_gate)
        {
            var changed = false;
            foreach (var (downstream, up) in verdicts)
            {
                changed |= up ? _down.Remove(downstream) : _configuredSet.Contains(downstream) && _down.Add(downstream);
            }
            if (changed)
            {
                Recompute();
            }
        }
    }

    /// <summary>
    /// Static downstreams first, then discovered ones; a discovered endpoint that is also listed statically is
    /// sent to once, under its static name, so it does not get a double share.
    /// </summary>
    private void Combine()
    {
        var staticEndpoints = _static.Select(d => d.Endpoint).ToHashSet();
        _configured = [.. _static, .. _discovered.Where(d => !staticEndpoints.Contains(d.Endpoint))];
        _configuredSet = [.. _configured];
        _down.IntersectWith(_configuredSet);
        Recompute();
    }

    private void Recompute()
    {
        // A drained downstream (weight 0) leaves the set but stays configured: probed, counted, able to return.
        var serving = _configured.Where(d => d.Weight > 0).ToArray();
        var healthy = serving.Where(d => !_down.Contains(d)).ToArray();
        var next = healthy.Length > 0 || serving.Length == 0
            ? new DownstreamSet(healthy)
            : _failOpen ? new DownstreamSet(serving) : new DownstreamSet([], DropReason.NoHealthyDownstream);
        Current = next;
        _publish(next);
    }
}
