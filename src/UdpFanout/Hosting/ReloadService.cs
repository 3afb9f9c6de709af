using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Metrics;
using UdpFanout.Model;

namespace UdpFanout.Hosting;

/// <summary>
/// SIGHUP: re-read and validate the whole file; apply it if valid, else log every error and keep running the
/// old config. Tells systemd RELOADING=1 before and READY=1 after, as Type=notify-reload expects.
/// </summary>
internal sealed partial class ReloadService(
    CurrentConfig current,
    ListenerSupervisor supervisor,
    FanoutMetrics metrics,
    MetricsService metricsServer,
    ISystemdNotifier notifier,
    TimeProvider time,
    ILogger<ReloadService> logger) : IHostedService, IDisposable
{
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private PosixSignalRegistration? _sighup;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.ConfigLoaded(time.GetUtcNow());
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(ReloadAsync);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _sighup?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _sighup?.Dispose();

    /// <summary>Returns true when the new config was applied.</summary>
    public async Task<bool> ReloadAsync()
    {
        await _oneAtATime.WaitAsync();
        try
        {
            return await ReloadOnceAsync();
        }
        catch (Exception e)
        {
            // A bug, not the user's doing; the reload runs on its own task, where an exception would vanish unseen.
            LogReloadCrashed(logger, e);
            metrics.ReloadFailed();
            return false;
        }
        finally
        {
            Notify("READY=1");
            // Applied or refused, the file's tree is garbage now.
            ConfigGarbage.Release();
            _oneAtATime.Release();
        }
    }

    private async Task<bool> ReloadOnceAsync()
    {
        Notify($"RELOADING=1\nMONOTONIC_USEC={MonotonicMicroseconds()}");
        LogReloading(logger, current.Path);
        FanoutConfig next;
        try
        {
            next = ConfigLoader.Load(current.Path, HostAddresses.Read());
        }
        catch (ConfigException e)
        {
            foreach (var line in e.Lines)
            {
                LogConfigError(logger, line);
            }
            LogReloadRefused(logger, e.Errors.Count);
            metrics.ReloadFailed();
            return false;
        }
        try
        {
            await supervisor.ApplyAsync(next, CancellationToken.None);
            await metricsServer.ApplyAsync(next);
        }
        catch (UserFixableException e)
        {
            foreach (var line in e.Lines)
            {
                LogApplyFailed(logger, line);
            }
            metrics.ReloadFailed();
            return false;
        }
        current.Value = next;
        metrics.ReloadSucceeded(time.GetUtcNow());
        LogReloaded(logger);
        return true;
    }

    private void Notify(string state)
    {
        if (notifier.IsEnabled)
        {
            notifier.Notify(new ServiceState(state));
        }
    }

    // systemd compares this with its own CLOCK_MONOTONIC, which is what Stopwatch reads on Linux.
    private static long MonotonicMicroseconds() => (long)(Stopwatch.GetTimestamp() * (1_000_000.0 / Stopwatch.Frequency));

    [LoggerMessage(Level = LogLevel.Information, Message = "reloading {Path}")]
    private static partial void LogReloading(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Error}")]
    private static partial void LogConfigError(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "reload refused: {Count} error(s) in the config; the running config stays")]
    private static partial void LogReloadRefused(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "reload failed while applying, some listeners may run the old config: {Reason}")]
    private static partial void LogApplyFailed(ILogger logger, string reason);

    // The exception goes with it (its stack trace to the journal's EXCEPTION field): this is a bug to report.
    [LoggerMessage(Level = LogLevel.Error, Message = "reload failed unexpectedly; the running config stays where it was not yet replaced")]
    private static partial void LogReloadCrashed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "reload applied")]
    private static partial void LogReloaded(ILogger logger);
}
