namespace UdpFanout.Forwarding;

/// <summary>
/// A counter that only one mode has (AF_XDP ring statistics, datagrams that took the fragment fallback, ...),
/// exported as <c>udp_fanout_{Name}</c> with the listener and mode labels plus <see cref="Labels"/>.
/// </summary>
internal sealed record ModeCounter(string Name, string Help, long Value, IReadOnlyList<KeyValuePair<string, string>>? Labels = null)
{
    /// <summary>
    /// What an eBPF mode's userspace fallback socket received: what its program passed to the stack, reassembled,
    /// and anything that got past the program. Far above the passed-to-stack counters means the fast path is missed.
    /// </summary>
    public static ModeCounter FallbackReceived(ListenerStats fallback) =>
        new("fallback_received_total", "Datagrams the userspace fallback socket of an eBPF mode received and handled.", fallback.Received);

    /// <summary>How often a forwarding thread of the listener failed (a bug, logged at err) and started again.</summary>
    public static ModeCounter WorkerRestarts(long restarts) =>
        new("worker_restarts_total", "Times a forwarding thread failed, dropped its unfinished batch (reason worker_failed) and started again; each is a bug, logged at err.", restarts);

    /// <summary>
    /// Datagrams a <c>preserve_source</c> sender forwarded from the proxy's address because the client's could not
    /// be kept (an IPv6 client, or a client and downstream of different families); see <see cref="WorkerCounters.SourceNotKept"/>.
    /// </summary>
    public static ModeCounter StaleSources(long count) =>
        new("ipv6_stale_sources_total", "IPv6 datagrams refused with the learnt source of their downstream, no longer the host's, and sent again with the source the kernel chose.", count);

    /// <summary>(see <see cref="WorkerCounters.SourceNotKept"/>)</summary>
    public static ModeCounter SourceNotKept(long count) =>
        new("source_not_kept_total", "Datagrams a preserve_source listener sent from the proxy's address: the client was IPv6 or of another family than the downstream.", count);
}
