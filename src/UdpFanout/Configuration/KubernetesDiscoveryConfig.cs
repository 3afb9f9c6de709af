namespace UdpFanout.Configuration;

/// <summary>Downstreams taken from the EndpointSlices of one Kubernetes service.</summary>
internal sealed record KubernetesDiscoveryConfig
{
    public required string Namespace { get; init; }
    public required string Service { get; init; }
    /// <summary>The target port; null when <see cref="PortName"/> names it instead.</summary>
    public int? Port { get; init; }
    public string? PortName { get; init; }
    /// <summary>Null: in-cluster service account, else $KUBECONFIG.</summary>
    public string? Kubeconfig { get; init; }
}
