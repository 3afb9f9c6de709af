using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Metrics;
using UdpFanout.Model;

namespace UdpFanout.Hosting;

/// <summary>
/// Owns the running listeners and moves them from one config to the next: unchanged listeners keep running,
/// downstream-only changes apply in place, changed bind/mode/tuning restarts that listener alone, added and
/// removed listeners start and stop.
/// </summary>
internal sealed partial class ListenerSupervisor(
    ForwarderRegistry registry, ListenerSelection selection, RetiredStats retired, TimeProvider time, ILogger<ListenerSupervisor> logger) : IAsyncDisposable
{
    private readonly Dictionary<string, ListenerRuntime> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _applying = new(1, 1);

    /// <summary>The running listeners; a fresh array each time, safe to read from the metrics thread.</summary>
    public IReadOnlyList<ListenerRuntime> Running { get; private set; } = [];

    public async Task ApplyAsync(FanoutConfig config, CancellationToken cancellationToken)
    {
        var wanted = selection.Select(config);
        await _applying.WaitAsync(cancellationToken);
        try
        {
            foreach (var name in _running.Keys.Where(n => !wanted.Any(l => l.Name == n)).ToArray())
            {
                await StopAsync(name);
            }
            foreach (var listener in wanted)
            {
                if (!_running.TryGetValue(listener.Name, out var runtime))
                {
                    _running[listener.Name] = await ListenerRuntime.StartAsync(listener, config.Health, registry, time, logger, cancellationToken);
                }
                else if (runtime.Config.NeedsRestartFor(listener))
                {
                    LogRestarting(logger, listener.Name);
                    await StopAsync(listener.Name);
                    _running[listener.Name] = await ListenerRuntime.StartAsync(listener, config.Health, registry, time, logger, cancellationToken);
                }
                else
                {
                    if (runtime.Config != listener)
                    {
                        await runtime.ApplyInPlaceAsync(listener);
                    }
                    await runtime.ApplyHealthAsync(config.Health);
                }
            }
        }
        finally
        {
            Running = _running.Values.ToArray();
            _applying.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _applying.WaitAsync();
        try
        {
            foreach (var name in _running.Keys.ToArray())
            {
                await StopAsync(name);
            }
            Running = [];
        }
        finally
        {
            _applying.Release();
        }
    }

    /// <summary>
    /// Stops one listener and keeps its final counts for the metrics. Never throws: the data path reads its final
    /// counts before it closes its maps, and every step logs its own failure.
    /// </summary>
    private async Task StopAsync(string name)
    {
        var runtime = _running[name];
        _running.Remove(name);
        // Scrapes stop reading it before it closes; its final counts move to the retired stats below.
        Running = _running.Values.ToArray();
        await runtime.DisposeAsync();
        StopPath.Step(logger, name, "keeping the final counters", () => retired.Add(runtime.Config, runtime.ReadStats()));
        LogStopped(logger, name);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} changed bind, mode or data path settings: restarting it")]
    private static partial void LogRestarting(ILogger logger, string listener);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} stopped")]
    private static partial void LogStopped(ILogger logger, string listener);
}
