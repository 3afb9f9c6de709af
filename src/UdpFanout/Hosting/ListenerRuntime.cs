using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Discovery;
using UdpFanout.Forwarding;
using UdpFanout.Health;
using UdpFanout.Model;

namespace UdpFanout.Hosting;

/// <summary>
/// A running listener: its config, its data path, the rotation that feeds it downstreams, the discovery that finds
/// them and the health checker that takes dead ones out.
/// </summary>
internal sealed partial class ListenerRuntime : IAsyncDisposable
{
    private readonly IListenerForwarder _forwarder;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _publishing = new();
    private HealthConfig _health = new();
    private volatile HealthChecker? _checker;
    private bool _started;
    // The set the last log line described, so the next says who joined and who left.
    private HashSet<Downstream> _logged = [];
    private long _replacedDiscoveryApplyFailures;
    private long _replacedProbeErrors;

    private ListenerRuntime(ListenerConfig config, IListenerForwarder forwarder, TimeProvider time, ILogger logger)
    {
        Config = config;
        _forwarder = forwarder;
        _time = time;
        _logger = logger;
        Rotation = new DownstreamRotation(Publish);
    }

    public ListenerConfig Config { get; private set; }

    /// <summary>Health probes that could not run, over every health checker this listener has had.</summary>
    public long HealthProbeErrors => _replacedProbeErrors + (_checker?.ProbeErrors ?? 0);

    /// <summary>The health settings in force, which a restart that fails starts again with.</summary>
    public HealthConfig Health => _health;

    public DownstreamRotation Rotation { get; }

    /// <summary>The listener's Kubernetes discovery, when it has a <c>kubernetes:</c> section.</summary>
    public KubernetesDiscovery? Discovery { get; private set; }

    /// <summary>Discovered changes the data path refused, over every discovery this listener has had.</summary>
    public long DiscoveryApplyFailures => _replacedDiscoveryApplyFailures + (Discovery?.ApplyFailures ?? 0);

    public static async Task<ListenerRuntime> StartAsync(
        ListenerConfig config, HealthConfig health, ForwarderRegistry registry, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        // Before anything binds or attaches: in every mode the listener's sockets would share the port silently.
        ForeignPortHolders.ThrowIfHeld(config);
        var forwarder = registry.Create(config);
        var runtime = new ListenerRuntime(config, forwarder, time, logger);
        try
        {
            runtime.Rotation.SetConfigured(config.Downstreams);
            if (config.Kubernetes is { } kubernetes)
            {
                // Start with the service's endpoints when the API answers in time, not with an empty rotation.
                runtime.Discovery = runtime.CreateDiscovery(kubernetes);
                runtime.Discovery.Start();
                await Task.WhenAny(runtime.Discovery.FirstSync, Task.Delay(WatchTiming.Default.FirstSyncWait, time, cancellationToken));
            }
            var initial = runtime.Rotation.Current;
            await forwarder.StartAsync(initial, cancellationToken);
            // Once more now that this listener's sockets are bound: two daemons that started at the same moment
            // both passed the first check, and each now sees the other, so neither keeps half of the traffic.
            ForeignPortHolders.ThrowIfHeld(config);
            lock (runtime._publishing)
            {
                runtime._started = true;
                runtime._logged = [.. initial.Members];
                // Discovery may have moved on while the data path was starting.
                if (!ReferenceEquals(runtime.Rotation.Current, initial))
                {
                    forwarder.UpdateDownstreams(runtime.Rotation.Current);
                }
            }
        }
        catch
        {
            if (runtime.Discovery is not null)
            {
                await runtime.Discovery.DisposeAsync();
            }
            await forwarder.DisposeAsync();
            throw;
        }
        await runtime.ApplyHealthAsync(health);
        LogStarted(logger, config.Name, config.Mode.YamlName(), config.Bind.ToString(), ListenerSummary.Balance(config), runtime.Rotation.Current.ToString(), runtime.Rotation.Current.Members.Count);
        return runtime;
    }

    /// <summary>Applies a reloaded config whose changes need no restart (static downstreams, discovery settings).</summary>
    public async Task ApplyInPlaceAsync(ListenerConfig next)
    {
        var discoveryChanged = next.Kubernetes != Config.Kubernetes;
        // Started first: if it cannot start, nothing of the new config is applied.
        var nextDiscovery = discoveryChanged && next.Kubernetes is { } kubernetes ? CreateDiscovery(kubernetes) : null;
        Config = next;
        // Static downstreams before discovered ones leave, so the rotation is never empty in between.
        Rotation.SetConfigured(next.Downstreams);
        if (discoveryChanged)
        {
            // The old discovery stops before the new one starts, so a late event of the old service cannot
            // overwrite the new one's list. Its downstreams serve until the new one's first list replaces them.
            if (Discovery is not null)
            {
                await Discovery.DisposeAsync();
                _replacedDiscoveryApplyFailures += Discovery.ApplyFailures;
            }
            Discovery = nextDiscovery;
            if (nextDiscovery is null)
            {
                Rotation.SetDiscovered([]);
            }
            else
            {
                nextDiscovery.Start();
            }
        }
        _checker?.Track(Rotation.Configured);
    }

    /// <summary>Starts, stops or replaces the health checker when the health settings changed.</summary>
    public async Task ApplyHealthAsync(HealthConfig health)
    {
        if (health == _health)
        {
            return;
        }
        _health = health;
        if (_checker is not null)
        {
            await _checker.DisposeAsync();
            _replacedProbeErrors += _checker.ProbeErrors;
            _checker = null;
        }
        Rotation.FailOpen = health.FailOpen;
        Rotation.ClearHealth();
        if (health.Enabled)
        {
            _checker = new HealthChecker(Config.Name, health, HealthChecker.ProbeFor(health), Rotation, _time, _logger);
            _checker.Track(Rotation.Configured);
        }
    }

    /// <summary>The data path's counters; after <see cref="DisposeAsync"/>, its final ones.</summary>
    public ListenerStats ReadStats() => _forwarder.ReadStats();

    /// <summary>Drops the counters of downstreams that left the config and whose series the metrics retired.</summary>
    public void ForgetDownstreams(IReadOnlyCollection<Downstream> gone) => _forwarder.ForgetDownstreams(gone);

    /// <summary>Stops discovery, health checks and the data path; logs what fails instead of throwing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Discovery is not null)
        {
            await StopPath.StepAsync(_logger, Config.Name, "stopping discovery", Discovery.DisposeAsync);
        }
        if (_checker is not null)
        {
            await StopPath.StepAsync(_logger, Config.Name, "stopping health checks", _checker.DisposeAsync);
        }
        await StopPath.StepAsync(_logger, Config.Name, "stopping the data path", _forwarder.DisposeAsync);
    }

    private KubernetesDiscovery CreateDiscovery(KubernetesDiscoveryConfig kubernetes) =>
        KubernetesDiscovery.Create(Config.Name, kubernetes, new DestinationRules(Config, HostAddresses.Read()), OnDiscovered, WatchTiming.Default, _time, _logger);

    private void OnDiscovered(IReadOnlyList<Downstream> downstreams)
    {
        Rotation.SetDiscovered(downstreams);
        _checker?.Track(Rotation.Configured);
    }

    private void Publish(DownstreamSet set)
    {
        lock (_publishing)
        {
            // The first set is handed to StartAsync; later ones replace it in the running data path.
            if (!_started)
            {
                return;
            }
            _forwarder.UpdateDownstreams(set);
            LogChange(set);
        }
    }

    /// <summary>One line per change, of bounded length: who is in, and how many joined and left with a few names each.</summary>
    private void LogChange(DownstreamSet set)
    {
        var current = set.Members.ToHashSet();
        Downstream[] joined = [.. set.Members.Where(d => !_logged.Contains(d))];
        Downstream[] left = [.. _logged.Where(d => !current.Contains(d))];
        _logged = current;
        LogDownstreamsChanged(_logger, Config.Name, set.ToString(), set.Members.Count, Counted(joined), Counted(left));
    }

    private static string Counted(IReadOnlyCollection<Downstream> downstreams) =>
        downstreams.Count == 0 ? "none" : $"{downstreams.Count}: {DownstreamNames.Summary(downstreams)}";

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} started: mode {Mode}, bind {Bind}, balance {Balance}, downstreams {Downstreams} ({Count} in the rotation)")]
    private static partial void LogStarted(ILogger logger, string listener, string mode, string bind, string balance, string downstreams, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} downstreams now {Downstreams} ({Count} in the rotation; joined {Joined}; left {Left})")]
    private static partial void LogDownstreamsChanged(ILogger logger, string listener, string downstreams, int count, string joined, string left);
}
