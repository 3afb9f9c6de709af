using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Discovery;
using UdpFanout.Forwarding;

namespace UdpFanout.Metrics;

/// <summary>
/// What a scrape reads of a running listener (Hosting's ListenerRuntime): declared here so that Metrics needs
/// nothing of Hosting, which builds it.
/// </summary>
internal interface IRunningListener
{
    ListenerConfig Config { get; }

    DownstreamRotation Rotation { get; }

    KubernetesDiscovery? Discovery { get; }

    long DiscoveryApplyFailures { get; }

    long HealthProbeErrors { get; }

    ListenerStats ReadStats();

    /// <summary>Adds the data path's counters into the builder a scrape keeps, without a snapshot where the mode can.</summary>
    void AddStatsTo(StatsBuilder stats);

    /// <summary>Drops the counters of downstreams whose final counts were exported long enough.</summary>
    void ForgetDownstreams(IReadOnlyCollection<Downstream> gone);
}
