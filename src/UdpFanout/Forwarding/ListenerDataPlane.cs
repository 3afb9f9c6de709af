using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding;

/// <summary>
/// The data-plane state of one listener that its userspace-side workers share: the active set with its policy,
/// the round-robin sequence, the per-downstream counters, and the swap that waits out batches of the old set.
/// A forwarder owns one and hands it to its workers; each worker joins with the gate it brackets its batches with.
/// Once a set with IPv6 downstreams is active, a <see cref="SourceFollower"/> keeps their learnt sources current.
/// </summary>
internal sealed partial class ListenerDataPlane : IDisposable
{
    private readonly BalancePolicy _balance;
    private readonly DownstreamCounters _counters = new();
    private readonly RoundRobin _sequence = new();
    private readonly Lock _workersGate = new();
    private (BatchGate Gate, Thread Thread)[] _workers = [];
    private readonly string _listener;
    private readonly ILogger _logger;
    private ActiveDownstreams _active;
    private SourceFollower? _sources;
    private long _sourceFailures;

    public ListenerDataPlane(ListenerConfig config, ILogger logger)
    {
        _listener = config.Name;
        _logger = logger;
        _balance = config.Balance;
        HashKey = config.HashKey;
        _active = Activate(DownstreamSet.Empty);
    }

    /// <summary>What a worker's source keys hash (<see cref="SourceHash.Key(uint, ushort, HashKey)"/>); fixed for the listener's life, as a change restarts it.</summary>
    public HashKey HashKey { get; }

    /// <summary>The set workers forward to; read once per batch, between <see cref="BatchGate.Enter"/> and <see cref="BatchGate.Exit"/>.</summary>
    public ActiveDownstreams Active => Volatile.Read(ref _active);

    /// <summary>What keeps the learnt IPv6 sources current; null until a set with IPv6 downstreams was active.</summary>
    public SourceFollower? SourceFollower
    {
        get
        {
            lock (_workersGate)
            {
                return _sources;
            }
        }
    }

    /// <summary>Makes <see cref="Update"/> wait for <paramref name="worker"/>'s batches too.</summary>
    public void Join(BatchGate gate, Thread worker)
    {
        lock (_workersGate)
        {
            _workers = [.. _workers, (gate, worker)];
        }
    }

    /// <summary>
    /// Replaces the set. When this returns, every batch that may have read the old set has been sent, so no
    /// datagram goes to a downstream outside <paramref name="set"/>, and none was lost or sent twice by the swap.
    /// </summary>
    public void Update(DownstreamSet set)
    {
        var active = Activate(set);
        Interlocked.Exchange(ref _active, active);
        FollowSourcesOf(active);
        (BatchGate Gate, Thread Thread)[] workers;
        lock (_workersGate)
        {
            workers = _workers;
        }
        foreach (var (gate, thread) in workers)
        {
            gate.WaitForBoundary(thread);
        }
    }

    public void AddTo(StatsBuilder stats)
    {
        _counters.AddTo(stats);
        var failures = Interlocked.Read(ref _sourceFailures) + (Volatile.Read(ref _sources)?.Failures ?? 0);
        stats.Add(new ModeCounter("ipv6_source_follow_failures_total", "Times following the kernel's IPv6 addresses and routes for the learnt source addresses of IPv6 downstreams failed and started over.", failures));
    }

    /// <summary>Stops following the kernel for the learnt sources; after the workers stopped.</summary>
    public void Dispose()
    {
        lock (_workersGate)
        {
            // Kept, not cleared: the final counters are read after this.
            _sources?.Dispose();
        }
    }

    public void Forget(IEnumerable<Downstream> gone) => _counters.Forget(gone);

    /// <summary>Starts the follower with the first set that has learnt sources; a failure to start is logged and tried again with the next set.</summary>
    private void FollowSourcesOf(ActiveDownstreams active)
    {
        if (active.Sources.Current.Length == 0)
        {
            return;
        }
        lock (_workersGate)
        {
            if (_sources is not null)
            {
                return;
            }
            try
            {
                _sources = new SourceFollower(this, _listener, _logger);
            }
            catch (Exception e)
            {
                // The set is active regardless: a stale source then costs a retry per datagram until this works.
                Interlocked.Increment(ref _sourceFailures);
                LogFollowFailedToStart(_logger, e, _listener);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: cannot follow the kernel's IPv6 addresses and routes; tried again with the next downstream set (ipv6_source_follow_failures_total)")]
    private static partial void LogFollowFailedToStart(ILogger logger, Exception exception, string listener);

    private ActiveDownstreams Activate(DownstreamSet set) =>
        _counters.Activate(set, members => BalancingPolicies.For(_balance, members, _sequence));
}
