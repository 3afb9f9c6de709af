using UdpFanout.Balancing;

namespace UdpFanout.Forwarding;

/// <summary>
/// The data path of one listener. The three modes implement this; nothing outside Forwarding/ knows which
/// one it holds.
/// </summary>
internal interface IListenerForwarder : IAsyncDisposable
{
    /// <summary>
    /// Binds or attaches and returns once datagrams are being received and forwarded to <paramref name="initial"/>.
    /// Throws <see cref="ForwarderException"/> with a message that says what to do.
    /// </summary>
    Task StartAsync(DownstreamSet initial, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the downstream set. When this returns, no datagram is sent to a downstream outside
    /// <paramref name="set"/>, and none was lost or sent twice by the swap.
    /// </summary>
    void UpdateDownstreams(DownstreamSet set);

    /// <summary>
    /// Drops what is kept of downstreams that left the config for good, so <see cref="ReadStats"/> no longer
    /// reports them; a downstream that is in the set again keeps its counters.
    /// </summary>
    void ForgetDownstreams(IReadOnlyCollection<Downstream> gone);

    ListenerStats ReadStats();

    /// <summary>
    /// Adds the counters into a builder a scrape keeps. Modes that count in BPF maps add a snapshot; userspace adds
    /// its counters without one, so its scrape allocates nothing per downstream.
    /// </summary>
    void AddStatsTo(StatsBuilder stats) => stats.Add(ReadStats());
}
