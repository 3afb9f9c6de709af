namespace UdpFanout.Configuration;

/// <summary>The whole configuration file, validated.</summary>
internal sealed record FanoutConfig
{
    public required ValueList<ListenerConfig> Listeners { get; init; }
    public HealthConfig Health { get; init; } = new();
    public MetricsConfig Metrics { get; init; } = new();
    public ValueList<InterfaceTuningConfig> Tuning { get; init; } = ValueList<InterfaceTuningConfig>.Empty;
    /// <summary>RLIMIT_MEMLOCK to set at start, in bytes (<see cref="ulong.MaxValue"/> = unlimited); null leaves it.</summary>
    public ulong? MemlockBytes { get; init; }
    /// <summary>The file this config was read from, for error messages.</summary>
    public string SourcePath { get; init; } = "(built in)";
}
