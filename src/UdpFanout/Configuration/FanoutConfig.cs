namespace UdpFanout.Configuration;

/// <summary>The whole configuration file, validated.</summary>
internal sealed record FanoutConfig
{
    public required ValueList<ListenerConfig> Listeners { get; init; }
    public HealthConfig Health { get; init; } = new();
    public MetricsConfig Metrics { get; init; } = new();
    /// <summary>The file this config was read from, for error messages.</summary>
    public string SourcePath { get; init; } = "(built in)";
}
