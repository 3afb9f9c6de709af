using System.Reflection;
using Prometheus;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Model;

namespace UdpFanout.Metrics;

/// <summary>
/// The Prometheus view of the daemon. Forwarders keep their own counters (plain fields or BPF maps); this
/// reads them at scrape time, so the data path never touches a metrics library. The series of a downstream or
/// listener that left the config stay for <see cref="RetirementGrace"/> with their final counts, then go.
/// The per-listener families live in a prometheus-net registry; the per-downstream ones, which are most of a
/// scrape at scale, are written by <see cref="DownstreamSeries"/> after them.
/// </summary>
internal sealed class FanoutMetrics
{
    /// <summary>
    /// How long the final counts of a removed downstream or listener keep being exported, from the first scrape
    /// that finds it gone: several scrapes at the usual intervals, so no scraper misses the last increments.
    /// </summary>
    public static readonly TimeSpan RetirementGrace = TimeSpan.FromMinutes(5);

    private static readonly string[] ListenerLabels = ["listener", "mode"];

    private readonly IRunningListeners _listeners;
    private readonly RetiredStats _retired;
    private readonly SeriesRetirement _retirement;
    // One scrape collects and renders at a time: otherwise one scrape's GaugeSeries.RemoveUnset removes series that
    // another has just set and not yet rendered, and the mode counters' dictionary is written by two threads.
    private readonly SemaphoreSlim _exporting = new(1, 1);
    private readonly DownstreamSeries _downstreamSeries = new();
    // Kept from scrape to scrape, like the series' rows: a fresh reading of 10,000 downstreams each scrape was
    // megabytes of garbage.
    private readonly StatsBuilder _stats = new();
    private readonly List<(Downstream Downstream, bool Up)> _health = [];
    private readonly Counter _received;
    private readonly Counter _receivedBytes;
    private readonly Counter _forwarded;
    private readonly Counter _forwardedBytes;
    private readonly Counter _dropped;
    private readonly Dictionary<string, Counter> _modeCounters = new();
    private readonly Dictionary<string, GaugeSeries> _modeInfos = new();
    private readonly GaugeSeries _discovery;
    private readonly Counter _discoveryApplyFailures;
    private readonly Counter _probeErrors;
    private readonly Counter _reloads;
    private readonly Gauge _lastReload;

    public FanoutMetrics(IRunningListeners listeners, RetiredStats retired, TimeProvider time)
    {
        _listeners = listeners;
        _retired = retired;
        _retirement = new SeriesRetirement(time, RetirementGrace);
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _received = factory.CreateCounter("udp_fanout_packets_received_total", "Datagrams received by a listener.", ListenerLabels);
        _receivedBytes = factory.CreateCounter("udp_fanout_bytes_received_total", "UDP payload bytes received by a listener.", ListenerLabels);
        _forwarded = factory.CreateCounter("udp_fanout_packets_forwarded_total", "Datagrams forwarded to a downstream.", ListenerLabels);
        _forwardedBytes = factory.CreateCounter("udp_fanout_bytes_forwarded_total", "UDP payload bytes forwarded.", ListenerLabels);
        _dropped = factory.CreateCounter("udp_fanout_packets_dropped_total", "Datagrams received but not forwarded, by reason.", [.. ListenerLabels, "reason"]);
        _discovery = new(
            factory.CreateGauge("udp_fanout_kubernetes_api_up", "1 while the last request to the Kubernetes API for a listener's discovery succeeded; 0 while the last known endpoints serve without it.", ListenerLabels),
            factory.CreateGauge("udp_fanout_kubernetes_endpoints", "Ready endpoints the listener's Kubernetes discovery found.", ListenerLabels));
        _discoveryApplyFailures = factory.CreateCounter(
            "udp_fanout_kubernetes_apply_failures_total", "Discovered endpoint changes the data path refused; the previous downstreams kept serving.", ListenerLabels);
        _probeErrors = factory.CreateCounter(
            "udp_fanout_health_probe_errors_total", "Health probes that could not run at all (no socket: out of file descriptors, say); each also counts as a failed probe.", ListenerLabels);
        _reloads = factory.CreateCounter("udp_fanout_config_reloads_total", "Config reloads by result.", ["result"]);
        _lastReload = factory.CreateGauge("udp_fanout_config_last_successful_reload_timestamp_seconds", "When the config was last loaded successfully (Unix time).");
        var version = typeof(FanoutMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        factory.CreateGauge("udp_fanout_build_info", "Build information; the value is always 1.", ["version", "runtime"])
            .WithLabels(version, Environment.Version.ToString()).Set(1);
    }

    private CollectorRegistry Registry { get; }

    /// <summary>
    /// Collects and writes one scrape's text into <paramref name="destination"/>: the registry's families, then the
    /// per-downstream ones. Scrapes can overlap; they take turns.
    /// </summary>
    public async Task ExportAsync(Stream destination, CancellationToken cancellationToken)
    {
        await _exporting.WaitAsync(cancellationToken);
        try
        {
            Collect();
            await Registry.CollectAndExportAsTextAsync(destination, cancellationToken);
            _downstreamSeries.WriteTo(destination);
        }
        finally
        {
            _exporting.Release();
        }
    }

    /// <summary>The config in force was loaded at <paramref name="at"/> (at start or by a reload).</summary>
    public void ConfigLoaded(DateTimeOffset at) => _lastReload.Set(at.ToUnixTimeMilliseconds() / 1000.0);

    public void ReloadSucceeded(DateTimeOffset at)
    {
        _reloads.WithLabels("success").Inc();
        ConfigLoaded(at);
    }

    public void ReloadFailed() => _reloads.WithLabels("failure").Inc();

    /// <summary>Reads every counter and rotation into the series of this scrape; called with <see cref="_exporting"/> held.</summary>
    private void Collect()
    {
        _downstreamSeries.BeginScrape();
        var running = _listeners.Running;
        foreach (var runtime in running)
        {
            runtime.AddStatsTo(_retired.AddTo(_stats.Clear(), runtime.Config));
            Export(runtime.Config, _stats, runtime);
        }
        foreach (var (listener, stats) in _retired.Stopped(running))
        {
            if (_retirement.Expired([listener.Name, listener.Mode.YamlName()]))
            {
                RemoveListener(listener);
                _retired.Remove(listener, stats);
                continue;
            }
            Export(listener, _stats.Clear().Add(stats), null);
        }
        // Only running instances report infos, so a stopped listener's info series goes at this scrape.
        foreach (var infos in _modeInfos.Values)
        {
            infos.RemoveUnset();
        }
        ExportHealth(running);
        ExportDiscovery(running);
        _retirement.EndScrape();
    }

    /// <summary>Removes every counter series of a listener that stopped (or now runs in another mode).</summary>
    private void RemoveListener(ListenerConfig listener)
    {
        var name = listener.Name;
        var mode = listener.Mode.YamlName();
        foreach (var counter in (Counter[])[_received, _receivedBytes, _forwarded, _forwardedBytes, _dropped, _probeErrors, _discoveryApplyFailures, .. _modeCounters.Values])
        {
            foreach (var labels in counter.GetAllLabelValues().Where(l => l[0] == name && l[1] == mode).ToArray())
            {
                counter.RemoveLabelled(labels);
            }
        }
    }

    private void ExportDiscovery(IReadOnlyList<IRunningListener> running)
    {
        foreach (var runtime in running)
        {
            if (runtime.Discovery is { } discovery)
            {
                _discovery.Set([runtime.Config.Name, runtime.Config.Mode.YamlName()], discovery.ApiReachable ? 1 : 0, discovery.Endpoints);
                _discoveryApplyFailures.WithLabels(runtime.Config.Name, runtime.Config.Mode.YamlName()).IncTo(runtime.DiscoveryApplyFailures);
            }
        }
        _discovery.RemoveUnset();
    }

    private void ExportHealth(IReadOnlyList<IRunningListener> running)
    {
        foreach (var runtime in running)
        {
            var name = runtime.Config.Name;
            var mode = runtime.Config.Mode.YamlName();
            _probeErrors.WithLabels(name, mode).IncTo(runtime.HealthProbeErrors);
            // Only configured downstreams are in the rotation's health: one that left has no up or weight series.
            _health.Clear();
            runtime.Rotation.ReadHealth(_health);
            foreach (var (downstream, up) in _health)
            {
                _downstreamSeries.AddHealth(name, mode, downstream, up);
            }
        }
    }

    /// <param name="runtime">The running instance, or null for a stopped listener whose final counts still show.</param>
    private void Export(ListenerConfig listener, StatsBuilder stats, IRunningListener? runtime)
    {
        var name = listener.Name;
        var mode = listener.Mode.YamlName();
        _received.WithLabels(name, mode).IncTo(stats.Received);
        _receivedBytes.WithLabels(name, mode).IncTo(stats.ReceivedBytes);
        _forwarded.WithLabels(name, mode).IncTo(stats.Forwarded);
        _forwardedBytes.WithLabels(name, mode).IncTo(stats.ForwardedBytes);
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            _dropped.WithLabels(name, mode, reason.MetricLabel()).IncTo(stats.Dropped[(int)reason]);
        }
        List<Downstream>? expired = null;
        foreach (var (downstream, (packets, bytes)) in stats.Downstreams)
        {
            if (runtime?.Rotation.IsConfigured(downstream) != true
                && _retirement.Expired([name, mode, downstream.Name, downstream.Endpoint.ToString()]))
            {
                (expired ??= []).Add(downstream);
                continue;
            }
            _downstreamSeries.AddSent(name, mode, new DownstreamStats(downstream, packets, bytes));
        }
        if (expired is not null)
        {
            // The counters themselves go too, or they would come back at the next scrape and pile up in memory.
            runtime?.ForgetDownstreams(expired);
            _retired.ForgetDownstreams(listener, expired);
        }
        foreach (var ((downstream, type), count) in stats.IcmpErrors)
        {
            if (expired is null || !expired.Contains(downstream))
            {
                _downstreamSeries.AddIcmpErrors(name, mode, new DownstreamIcmpErrors(downstream, type, count));
            }
        }
        foreach (var counter in stats.ModeCounters)
        {
            ModeCounterFor(counter).WithLabels([name, mode, .. counter.Labels?.Select(l => l.Value) ?? []]).IncTo(counter.Value);
        }
        // Infos describe a running instance; the final counts of a stopped one show, what it was attached as does not.
        if (runtime is not null)
        {
            foreach (var info in stats.ModeInfos)
            {
                ModeInfoFor(info).Set([name, mode, .. info.Labels.Select(l => l.Value)], 1);
            }
        }
    }

    /// <summary>The gauge of a mode's info, created at its first report (the labels after listener and mode are the info's).</summary>
    private GaugeSeries ModeInfoFor(ModeInfo info)
    {
        if (!_modeInfos.TryGetValue(info.Name, out var series))
        {
            string[] labels = [.. ListenerLabels, .. info.Labels.Select(l => l.Key)];
            series = new(Prometheus.Metrics.WithCustomRegistry(Registry).CreateGauge("udp_fanout_" + info.Name, info.Help, labels));
            _modeInfos[info.Name] = series;
        }
        return series;
    }

    private Counter ModeCounterFor(ModeCounter counter)
    {
        if (!_modeCounters.TryGetValue(counter.Name, out var metric))
        {
            string[] labels = [.. ListenerLabels, .. counter.Labels?.Select(l => l.Key) ?? []];
            metric = Prometheus.Metrics.WithCustomRegistry(Registry).CreateCounter("udp_fanout_" + counter.Name, counter.Help, labels);
            _modeCounters[counter.Name] = metric;
        }
        return metric;
    }
}
