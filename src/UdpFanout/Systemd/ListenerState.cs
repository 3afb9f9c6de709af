using UdpFanout.Balancing;

namespace UdpFanout.Systemd;

/// <summary>
/// What a listener knows that the config does not say and probes or the API server take time to find out again:
/// which downstreams health checks took out, and which endpoints discovery found (for the service that
/// <see cref="Discovery"/> names). A listener that starts again, in this process or the next, begins from it.
/// </summary>
internal sealed record ListenerState(string Listener, string? Discovery, IReadOnlyList<Downstream> Down, IReadOnlyList<Downstream> Discovered)
{
    /// <summary>The identity of a <c>kubernetes:</c> section: discovered endpoints of another service, port or namespace are not restored.</summary>
    public static string? DiscoveryKey(Configuration.KubernetesDiscoveryConfig? config) =>
        config is null ? null : $"{config.Namespace}/{config.Service}/{config.Port?.ToString() ?? config.PortName}";
}
