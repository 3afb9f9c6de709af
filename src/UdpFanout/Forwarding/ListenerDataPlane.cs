using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding;

/// <summary>
/// The data-plane state of one listener that its userspace-side workers share: the active set with its policy,
/// the round-robin sequence, the per-downstream counters, and the swap that waits out batches of the old set.
/// A forwarder owns one and hands it to its workers; each worker joins with the gate it brackets its batches with.
/// </summary>
internal sealed class ListenerDataPlane
{
    private readonly BalancePolicy _balance;
    private readonly DownstreamCounters _counters = new();
    private readonly RoundRobin _sequence = new();
    private readonly Lock _workersGate = new();
    private (BatchGate Gate, Thread Thread)[] _workers = [];
    private ActiveDownstreams _active;

    public ListenerDataPlane(ListenerConfig config)
    {
        _balance = config.Balance;
        HashKey = config.HashKey;
        _active = Activate(DownstreamSet.Empty);
    }

    /// <summary>What a worker's source keys hash (<see cref="SourceHash.Key(uint, ushort, HashKey)"/>); fixed for the listener's life, as a change restarts it.</summary>
    public HashKey HashKey { get; }

    /// <summary>The set workers forward to; read once per batch, between <see cref="BatchGate.Enter"/> and <see cref="BatchGate.Exit"/>.</summary>
    public ActiveDownstreams Active => Volatile.Read(ref _active);

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
        Interlocked.Exchange(ref _active, Activate(set));
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

    public void AddTo(StatsBuilder stats) => _counters.AddTo(stats);

    public void Forget(IEnumerable<Downstream> gone) => _counters.Forget(gone);

    private ActiveDownstreams Activate(DownstreamSet set) =>
        _counters.Activate(set, members => BalancingPolicies.For(_balance, members, _sequence));
}
