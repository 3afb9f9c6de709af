using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Metrics;
using UdpFanout.Model;
using UdpFanout.Systemd;

namespace UdpFanout.Hosting;

/// <summary>
/// Owns the running listeners and moves them from one config to the next: unchanged listeners keep running,
/// downstream-only changes apply in place, changed bind/mode/tuning restarts that listener alone, added and
/// removed listeners start and stop.
/// </summary>
internal sealed partial class ListenerSupervisor(
    ForwarderRegistry registry, ListenerSelection selection, RetiredStats retired, FileDescriptorStore sockets, TimeProvider time, ILogger<ListenerSupervisor> logger) : IRunningListeners, IAsyncDisposable
{
    private readonly Dictionary<string, ListenerRuntime> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _applying = new(1, 1);
    // Taken from the store before any listener starts: under systemd it holds what the previous process found.
    private readonly ServiceState _state = new(sockets, time, logger);

    /// <summary>The running listeners; a fresh array each time, safe to read from the metrics thread.</summary>
    public IReadOnlyList<ListenerRuntime> Running { get; private set; } = [];

    IReadOnlyList<IRunningListener> IRunningListeners.Running => Running;

    /// <summary>
    /// Moves every listener to <paramref name="config"/>. A listener that cannot take its part keeps running as it
    /// was (a restart that fails rolls back to the previous settings), the others go on, and at the end an
    /// <see cref="ApplyFailedException"/> names every listener that failed.
    /// </summary>
    public async Task ApplyAsync(FanoutConfig config, CancellationToken cancellationToken)
    {
        var wanted = selection.Select(config);
        await _applying.WaitAsync(cancellationToken);
        var failures = new List<UserFixableException>();
        try
        {
            foreach (var name in _running.Keys.Where(n => !wanted.Any(l => l.Name == n)).ToArray())
            {
                await StopAsync(name);
            }
            foreach (var listener in wanted)
            {
                try
                {
                    await ApplyAsync(listener, config.Health, cancellationToken);
                }
                catch (UserFixableException e)
                {
                    failures.Add(e);
                }
            }
        }
        finally
        {
            // Sockets kept for a listener that is gone, or that restarted with fewer workers or another bind.
            StopPath.Step(logger, "*", "closing the listening sockets no listener took", sockets.CloseSpare);
            StopPath.Step(logger, "*", "forgetting the state of listeners that are gone", () => _state.Retain(_running.Keys));
            Running = _running.Values.ToArray();
            _applying.Release();
        }
        if (failures.Count > 0)
        {
            throw new ApplyFailedException(failures);
        }
    }

    private async Task ApplyAsync(ListenerConfig listener, HealthConfig health, CancellationToken cancellationToken)
    {
        if (!_running.TryGetValue(listener.Name, out var runtime))
        {
            _running[listener.Name] = await ListenerRuntime.StartAsync(listener, health, registry, time, logger, cancellationToken, _state);
        }
        else if (runtime.Config.NeedsRestartFor(listener))
        {
            await RestartAsync(runtime, listener, health, cancellationToken);
        }
        else
        {
            if (runtime.Config != listener)
            {
                await runtime.ApplyInPlaceAsync(listener);
            }
            await runtime.ApplyHealthAsync(health);
        }
    }

    /// <summary>
    /// Stops the listener and starts it with its new bind, mode or data path settings. Stopped first, since the new
    /// one may need what the old one holds (the same port, without SO_REUSEPORT sharing between the two; the same
    /// interface's tc filter or XDP program). When the new one cannot start (its port is taken, say), the old
    /// settings start again, so a reload never leaves a listener stopped that was running; the failure is thrown.
    /// </summary>
    private async Task RestartAsync(ListenerRuntime runtime, ListenerConfig next, HealthConfig health, CancellationToken cancellationToken)
    {
        LogRestarting(logger, next.Name);
        await StopAsync(next.Name);
        try
        {
            _running[next.Name] = await ListenerRuntime.StartAsync(next, health, registry, time, logger, cancellationToken, _state);
        }
        catch (Exception e)
        {
            try
            {
                _running[next.Name] = await ListenerRuntime.StartAsync(runtime.Config, runtime.Health, registry, time, logger, CancellationToken.None, _state);
                LogRolledBack(logger, next.Name, runtime.Config.Mode.YamlName(), runtime.Config.Bind.ToString(), UserFixableException.Describe(e));
            }
            catch (Exception again)
            {
                LogRollbackFailed(logger, next.Name, UserFixableException.Describe(e), UserFixableException.Describe(again));
            }
            throw;
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
            // The last changes, which the state's timer may not have written yet, before the next process reads it.
            _state.Flush();
            _state.Dispose();
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

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: cannot restart with its new settings ({Error}); it runs again with its previous ones: mode {Mode}, bind {Bind}")]
    private static partial void LogRolledBack(ILogger logger, string listener, string mode, string bind, string error);

    [LoggerMessage(Level = LogLevel.Critical, Message = "listener {Listener}: cannot restart with its new settings ({Error}), nor with its previous ones ({RollbackError}); it is stopped until a reload or restart starts it")]
    private static partial void LogRollbackFailed(ILogger logger, string listener, string error, string rollbackError);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener} stopped")]
    private static partial void LogStopped(ILogger logger, string listener);
}
