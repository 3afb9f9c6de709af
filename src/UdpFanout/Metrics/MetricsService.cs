using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;

namespace UdpFanout.Metrics;

/// <summary>
/// Serves <c>/metrics</c> on <c>metrics.bind</c> (or the selected listener's <c>metrics_bind</c>) while the daemon
/// runs. Metrics never stop the data path: a bind that fails at start is logged at priority err and retried in the
/// background. A reload that moves the bind rebinds, or, when the new address cannot be bound, keeps the old one
/// and fails the reload.
/// </summary>
internal sealed partial class MetricsService(CurrentConfig current, ListenerSelection selection, FanoutMetrics metrics, ILogger<MetricsService> logger)
    : IHostedService, IAsyncDisposable
{
    /// <summary>How long one scrape connection may take, from accept to the end of the response.</summary>
    public static readonly TimeSpan ConnectionDeadline = TimeSpan.FromSeconds(10);

    /// <summary>How often a bind that failed is tried again.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _changing = new(1, 1);
    private MetricsHttpServer? _server;
    private IPEndPoint? _bind;
    private CancellationTokenSource? _retry;
    private Task _retrying = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _changing.WaitAsync(cancellationToken);
        try
        {
            _bind = BindFor(current.Value);
            if (_bind is not null && !TryServe(_bind, out var error))
            {
                LogCannotListen(logger, _bind.ToString(), error, RetryInterval.TotalSeconds);
                StartRetrying(_bind);
            }
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>
    /// Moves the endpoint to <paramref name="next"/>'s bind (or turns it on or off). Throws
    /// <see cref="MetricsException"/> when the new bind cannot be bound; the endpoint then stays where it was.
    /// </summary>
    public async Task ApplyAsync(FanoutConfig next)
    {
        await _changing.WaitAsync();
        try
        {
            var wanted = BindFor(next);
            if (Equals(wanted, _bind))
            {
                return;
            }
            var previous = _bind;
            // Stopped first: the new bind may overlap the old one (the same port on another address).
            await StopServingAsync();
            _bind = wanted;
            if (wanted is null)
            {
                LogDisabled(logger);
                return;
            }
            if (TryServe(wanted, out var error))
            {
                return;
            }
            _bind = previous;
            if (previous is not null && !TryServe(previous, out var again))
            {
                LogCannotListen(logger, previous.ToString(), again, RetryInterval.TotalSeconds);
                StartRetrying(previous);
            }
            throw new MetricsException($"metrics: cannot listen on {wanted}: {error}; the metrics endpoint stays {(previous is null ? "off" : $"on {previous}")} (free the port or choose another metrics.bind)");
        }
        finally
        {
            _changing.Release();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _changing.WaitAsync(CancellationToken.None);
        try
        {
            await StopServingAsync();
        }
        finally
        {
            _changing.Release();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    private IPEndPoint? BindFor(FanoutConfig config)
    {
        if (!config.Metrics.Enabled)
        {
            return null;
        }
        // A daemon that runs one listener (one systemd instance) uses that listener's metrics_bind, so that
        // instances on one host do not compete for one port.
        var selected = selection.Select(config);
        return selection.Only is not null && selected.Count == 1 ? selected[0].MetricsBind ?? config.Metrics.Bind : config.Metrics.Bind;
    }

    private bool TryServe(IPEndPoint bind, out string error)
    {
        try
        {
            _server = MetricsHttpServer.Start(bind, metrics.ExportAsync, ConnectionDeadline, logger);
            LogListening(logger, bind.ToString());
            error = "";
            return true;
        }
        catch (SocketException e)
        {
            error = e.Message;
            return false;
        }
    }

    private void StartRetrying(IPEndPoint bind)
    {
        _retry = new CancellationTokenSource();
        var token = _retry.Token;
        _retrying = Task.Run(async () =>
        {
            while (!token.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(RetryInterval, token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                await _changing.WaitAsync(CancellationToken.None);
                try
                {
                    if (!token.IsCancellationRequested && TryServe(bind, out _))
                    {
                        return;
                    }
                }
                finally
                {
                    _changing.Release();
                }
            }
        });
    }

    /// <summary>Called with <see cref="_changing"/> held.</summary>
    private async Task StopServingAsync()
    {
        if (_retry is not null)
        {
            await _retry.CancelAsync();
            // The retry loop takes _changing before it binds, and sees the cancellation once it has it.
            _retry.Dispose();
            _retry = null;
        }
        if (_server is not null)
        {
            await _server.DisposeAsync();
            _server = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "metrics on http://{Bind}/metrics")]
    private static partial void LogListening(ILogger logger, string bind);

    [LoggerMessage(Level = LogLevel.Error, Message = "metrics: cannot listen on {Bind}: {Error}; forwarding goes on without metrics, retrying every {RetrySeconds} s (free the port, or change metrics.bind or the listener's metrics_bind)")]
    private static partial void LogCannotListen(ILogger logger, string bind, string error, double retrySeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "metrics turned off")]
    private static partial void LogDisabled(ILogger logger);
}
