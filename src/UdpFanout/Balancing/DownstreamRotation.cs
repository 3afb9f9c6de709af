using UdpFanout.Configuration;

namespace UdpFanout.Balancing;

/// <summary>
/// Decides which downstreams of one listener are in the rotation, from the configured ones and (once the
/// health checker reports) their health, and publishes every change as a new <see cref="DownstreamSet"/>.
/// This is the single update path for reload, discovery and health in every mode.
/// </summary>
internal sealed class DownstreamRotation
{
    private readonly Lock _gate = new();
    private readonly Action<DownstreamSet> _publish;
    private IReadOnlyList<Downstream> _configured = [];

    public DownstreamRotation(Action<DownstreamSet> publish) => _publish = publish;

    public DownstreamSet Current { get; private set; } = DownstreamSet.Empty;

    /// <summary>Replaces the configured downstreams (static list from a reload).</summary>
    public void SetConfigured(IEnumerable<DownstreamConfig> downstreams)
    {
        lock (_gate)
        {
            _configured = downstreams.Select(d => new Downstream(d.Name, d.Address)).ToArray();
            Recompute();
        }
    }

    private void Recompute()
    {
        var next = new DownstreamSet(_configured);
        Current = next;
        _publish(next);
    }
}
