namespace UdpFanout.Discovery;

/// <summary>How the EndpointSlice watch paces itself against the API server.</summary>
internal sealed record WatchTiming
{
    public static WatchTiming Default { get; } = new();

    /// <summary>The first retry after a failure; each failure in a row doubles it up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Asked of the server as <c>timeoutSeconds</c>, after which it ends the stream and the watch resumes; a stream
    /// still open a grace period later sits on a dead connection (a silent network drop) and is reopened.
    /// </summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan StreamGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a starting listener waits for the first list before it starts with what it has.</summary>
    public TimeSpan FirstSyncWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often a discovered change that the data path refused (a BPF map update that failed, say) is tried again
    /// while no newer event comes: a quiet service may send none for hours, and its pods would wait that long.
    /// </summary>
    public TimeSpan ApplyRetry { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>EndpointSlices per list page.</summary>
    public int PageSize { get; init; } = 500;
}
