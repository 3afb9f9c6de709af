using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Health;

namespace UdpFanout.Hosting;

/// <summary>
/// A running listener: its config, its data path, the rotation that feeds it downstreams and the health checker
/// that takes dead ones out.
/// </summary>
internal sealed partial class ListenerRuntime : IAsyncDisposable
{
    private readonly IListenerForwarder _forwarder;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private HealthConfig _health = new();
    private HealthChecker? _checker;
    private bool _started;

    private ListenerRuntime(ListenerConfig config, IListenerForwarder forwarder, TimeProvider time, ILogger logger)
    {
        Config = config;
        _forwarder = forwarder;
        _time = time;
        _logger = logger;
        Rotation = new DownstreamRotation(Publish);
    }

    public ListenerConfig Config { get; private set; }

    public DownstreamRotation Rotation { get; }

    public static async Task<ListenerRuntime> StartAsync(
        ListenerConfig config, HealthConfig health, ForwarderRegistry registry, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var forwarder = registry.Create(config);
        var runtime = new ListenerRuntime(config, forwarder, time, logger);
        try
        {
            runtime.Rotation.SetConfigured(config.Downstreams);
            await forwarder.StartAsync(runtime.Rotation.Current, cancellationToken);
            runtime._started = true;
        }
        catch
        {
            await forwarder.DisposeAsync();
            throw;
        }
        await runtime.ApplyHealthAsync(health);
        LogStarted(logger, config.Name, config.Mode.YamlName(), config.Bind.ToString(), runtime.Rotation.Current.ToString());
        return runtime;
    }

    /// <summary>Applies a reloaded config whose changes need no restart (downstreams only).</summary>
    public void ApplyInPlace(ListenerConfig next)
    {
        Config = next;
        Rotation.SetConfigured(next.Downstreams);
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

    public ListenerStats ReadStats() => _forwarder.ReadStats();

    public async ValueTask DisposeAsync()
    {
        if (_checker is not null)
        {
            await _checker.DisposeAsync();
        }
        await _forwarder.DisposeAsync();
    }

    private void Publish(DownstreamSet set)
    {
        // The first set is handed to StartAsync; later ones replace it in the running data path.
        if (!_started)
        {
            return;
        }
        _forwarder.UpdateDownstreams(set);
        LogDownstreamsChanged(_logger, Config.Name, set.ToString());
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} started: mode {Mode}, bind {Bind}, downstreams {Downstreams}")]
    private static partial void LogStarted(ILogger logger, string listener, string mode, string bind, string downstreams);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} downstreams now {Downstreams}")]
    private static partial void LogDownstreamsChanged(ILogger logger, string listener, string downstreams);
}
