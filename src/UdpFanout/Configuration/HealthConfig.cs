namespace UdpFanout.Configuration;

/// <summary>Active health checking of downstreams, shared by every listener.</summary>
internal sealed record HealthConfig
{
    public bool Enabled { get; init; }
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);
    public HealthProtocol Protocol { get; init; } = HealthProtocol.Icmp;
    /// <summary>udp_echo only: probe this port instead of the downstream's own.</summary>
    public int? ProbePort { get; init; }
    public int UnhealthyThreshold { get; init; } = 3;
    public int HealthyThreshold { get; init; } = 2;
    /// <summary>When no downstream is healthy: true keeps sending to all, false drops.</summary>
    public bool FailOpen { get; init; }
}
