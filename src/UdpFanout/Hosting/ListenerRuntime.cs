using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Discovery;
using UdpFanout.Forwarding;
using UdpFanout.Health;
using UdpFanout.Metrics;
using UdpFanout.Model;
using UdpFanout.Systemd;

namespace UdpFanout.Hosting;

/// <summary>
/// A running listener: its config, its data path, the rotation that feeds it downstreams, the discovery that finds
/// them and the health checker that takes dead ones out.
/// </summary>
internal sealed partial class ListenerRuntime : IRunningListener, IAsyncDisposable
{
    private readonly IListenerForwarder _forwarder;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ServiceState? _state;
    private readonly Lock _publishing = new();
    private HealthConfig _health = new();
    private volatile HealthChecker? _checker;
    private bool _started;
    // The set the last log line described, so the next says who joined and who left.
    private HashSet<Downstream> _logged = [];
    private long _replacedDiscoveryApplyFailures;
    private long _replacedProbeErrors;

    private ListenerRuntime(ListenerConfig config, IListenerForwarder forwarder, TimeProvider time, ILogger logger, ServiceState? state)
    {
        Config = config;
        _forwarder = forwarder;
        _time = time;
        _logger = logger;
        _state = state;
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

    /// <param name="state">
    /// Where the listener's health verdicts and discovered endpoints are kept: it starts from what was saved there
    /// (before a restart on reload, or by the previous process under systemd) and saves every change. Null: neither.
    /// </param>
    public static async Task<ListenerRuntime> StartAsync(
        ListenerConfig config, HealthConfig health, ForwarderRegistry registry, TimeProvider time, ILogger logger, CancellationToken cancellationToken,
        ServiceState? state = null)
    {
        // Before anything binds or attaches: in every mode the listener's sockets would share the port silently.
        ForeignPortHolders.ThrowIfHeld(config);
        var forwarder = registry.Create(config);
        var runtime = new ListenerRuntime(config, forwarder, time, logger, state);
        try
        {
            runtime.Rotation.SetConfigured(config.Downstreams);
            if (state?.Restored(config.Name) is { } restored)
            {
                runtime.Restore(restored, health);
            }
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
                runtime.SaveState();
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
            // Its verdicts go with it. Verdicts restored at start, before any checker ran, stay: the new checker
            // starts those downstreams down and brings them back when its probes succeed.
            Rotation.ClearHealth();
        }
        Rotation.FailOpen = health.FailOpen;
        if (health.Enabled)
        {
            _checker = new HealthChecker(Config.Name, health, HealthChecker.ProbeFor(health), Rotation, _time, _logger);
            _checker.Track(Rotation.Configured);
        }
    }

    /// <summary>The data path's counters; after <see cref="DisposeAsync"/>, its final ones.</summary>
    public ListenerStats ReadStats() => _forwarder.ReadStats();

    public void AddStatsTo(StatsBuilder stats) => _forwarder.AddStatsTo(stats);

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
            // Saved first: a data path that refuses the set (a BPF map update that fails) changes nothing of what
            // health and discovery found, and the next change carries it there.
            SaveState();
            _forwarder.UpdateDownstreams(set);
            LogChange(set);
        }
    }

    /// <summary>
    /// Starts from what a previous instance of this listener found: downstreams that health checks had taken out
    /// stay out until probes bring them back (when health checks are still on), and the endpoints of the same
    /// service serve until discovery's first list replaces them. The config decides what still applies: a
    /// downstream no longer configured is not restored, nor an endpoint that the rules now refuse.
    /// </summary>
    private void Restore(ListenerState restored, HealthConfig health)
    {
        IReadOnlyList<Downstream> discovered = [];
        if (Config.Kubernetes is { } kubernetes && restored.Discovery == ListenerState.DiscoveryKey(kubernetes))
        {
            var rules = new DestinationRules(Config, HostAddresses.Read());
            discovered = [.. restored.Discovered.Where(d => rules.Refusal(d.Endpoint) is null)];
            Rotation.SetDiscovered(discovered);
        }
        var down = health.Enabled ? restored.Down.Where(Rotation.Configured.Contains).ToArray() : [];
        Rotation.SetHealth([.. down.Select(d => (d, false))]);
        if (down.Length > 0 || discovered.Count > 0)
        {
            LogRestored(_logger, Config.Name, discovered.Count, down.Length, down.Length == 0 ? "" : $": {DownstreamNames.Summary(down)}");
        }
    }

    /// <summary>Marks the state changed; it is read when it is written, off the rotation's lock (see <see cref="ServiceState"/>).</summary>
    private void SaveState() => _state?.Save(Config.Name, ReadState);

    private ListenerState ReadState() =>
        new(Config.Name, ListenerState.DiscoveryKey(Config.Kubernetes), Rotation.Down, Rotation.Discovered);

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

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} starts from the state kept across the restart: {Discovered} discovered endpoints until the first list, {Down} downstreams out until their probes succeed{Names}")]
    private static partial void LogRestored(ILogger logger, string listener, int discovered, int down, string names);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} downstreams now {Downstreams} ({Count} in the rotation; joined {Joined}; left {Left})")]
    private static partial void LogDownstreamsChanged(ILogger logger, string listener, string downstreams, int count, string joined, string left);
}
