using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;

namespace UdpFanout.Hosting;

/// <summary>A running listener: its config, its data path and the rotation that feeds it downstreams.</summary>
internal sealed partial class ListenerRuntime : IAsyncDisposable
{
    private readonly IListenerForwarder _forwarder;
    private readonly ILogger _logger;
    private bool _started;

    private ListenerRuntime(ListenerConfig config, IListenerForwarder forwarder, ILogger logger)
    {
        Config = config;
        _forwarder = forwarder;
        _logger = logger;
        Rotation = new DownstreamRotation(Publish);
    }

    public ListenerConfig Config { get; private set; }

    public DownstreamRotation Rotation { get; }

    public static async Task<ListenerRuntime> StartAsync(
        ListenerConfig config, ForwarderRegistry registry, ILogger logger, CancellationToken cancellationToken)
    {
        var forwarder = registry.Create(config);
        var runtime = new ListenerRuntime(config, forwarder, logger);
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
        LogStarted(logger, config.Name, config.Mode.YamlName(), config.Bind.ToString(), runtime.Rotation.Current.ToString());
        return runtime;
    }

    /// <summary>Applies a reloaded config whose changes need no restart (downstreams only).</summary>
    public void ApplyInPlace(ListenerConfig next)
    {
        Config = next;
        Rotation.SetConfigured(next.Downstreams);
    }

    public ListenerStats ReadStats() => _forwarder.ReadStats();

    public ValueTask DisposeAsync() => _forwarder.DisposeAsync();

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
