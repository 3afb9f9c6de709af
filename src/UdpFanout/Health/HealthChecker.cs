using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Health;

/// <summary>
/// Probes one listener's downstreams every interval, each at its own offset so probes spread over the interval
/// and run concurrently, and tells the rotation when one goes down or comes back. Every change is logged once.
/// </summary>
internal sealed partial class HealthChecker : IAsyncDisposable
{
    private readonly string _listener;
    private readonly HealthConfig _config;
    private readonly IHealthProbe _probe;
    private readonly DownstreamRotation _rotation;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<Downstream, (DownstreamHealth Health, Task Loop)> _probing = [];
    private readonly Lock _gate = new();
    private long _probeErrors;

    public HealthChecker(string listener, HealthConfig config, IHealthProbe probe, DownstreamRotation rotation, TimeProvider time, ILogger logger)
    {
        _listener = listener;
        _config = config;
        _probe = probe;
        _rotation = rotation;
        _time = time;
        _logger = logger;
    }

    /// <summary>Probes that could not run at all (no socket, say), each counted as a failed probe too.</summary>
    public long ProbeErrors => Interlocked.Read(ref _probeErrors);

    public static IHealthProbe ProbeFor(HealthConfig config) =>
        config.Protocol == HealthProtocol.Icmp ? new IcmpEchoProbe() : new UdpEchoProbe(config.ProbePort);

    /// <summary>Starts probing downstreams that joined and stops probing those that left.</summary>
    public void Track(IReadOnlyCollection<Downstream> downstreams)
    {
        lock (_gate)
        {
            foreach (var gone in _probing.Keys.Where(d => !downstreams.Contains(d)).ToArray())
            {
                _probing.Remove(gone);
            }
            var index = 0;
            foreach (var downstream in downstreams)
            {
                if (!_probing.ContainsKey(downstream))
                {
                    var offset = _config.Interval * index / Math.Max(1, downstreams.Count);
                    var health = new DownstreamHealth(_config.UnhealthyThreshold, _config.HealthyThreshold);
                    _probing[downstream] = (health, Task.Run(() => ProbeLoopAsync(downstream, health, offset)));
                }
                index++;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        Task[] loops;
        lock (_gate)
        {
            loops = _probing.Values.Select(p => p.Loop).ToArray();
        }
        await Task.WhenAll(loops).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }

    /// <summary>
    /// Probes one downstream until it leaves the tracked set or the checker stops. Survives everything: a probe that
    /// cannot even run (no socket: the process is out of file descriptors) counts as a failed probe, so a downstream
    /// the checker cannot see leaves the rotation instead of staying up for good; each kind of trouble is logged once.
    /// </summary>
    private async Task ProbeLoopAsync(Downstream downstream, DownstreamHealth health, TimeSpan offset)
    {
        var token = _stop.Token;
        var probeFailing = false;
        try
        {
            await Task.Delay(offset, _time, token);
            using var timer = new PeriodicTimer(_config.Interval, _time);
            do
            {
                if (!IsTracked(downstream, health))
                {
                    return;
                }
                bool ok;
                try
                {
                    ok = await _probe.ProbeAsync(downstream.Endpoint, _config.Timeout, token);
                    if (probeFailing)
                    {
                        probeFailing = false;
                        LogProbeRunsAgain(_logger, _listener, downstream.Name, downstream.Endpoint.ToString());
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    ok = false;
                    Interlocked.Increment(ref _probeErrors);
                    if (!probeFailing)
                    {
                        probeFailing = true;
                        LogProbeCannotRun(_logger, _listener, downstream.Name, downstream.Endpoint.ToString(), UserFixableException.Describe(e));
                    }
                }
                if (health.Record(ok) && IsTracked(downstream, health))
                {
                    if (health.Up)
                    {
                        LogUp(_logger, _listener, downstream.Name, downstream.Endpoint.ToString(), _config.HealthyThreshold);
                    }
                    else
                    {
                        LogDown(_logger, _listener, downstream.Name, downstream.Endpoint.ToString(), _config.UnhealthyThreshold);
                    }
                    SetHealth(downstream, health.Up);
                }
            }
            while (await timer.WaitForNextTickAsync(token));
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopped with the listener.
        }
    }

    /// <summary>
    /// Tells the rotation; the data path may refuse the new set (a BPF map update that fails), which is logged
    /// and leaves the loop running: the rotation holds the verdict, and its next change carries it.
    /// </summary>
    private void SetHealth(Downstream downstream, bool up)
    {
        try
        {
            _rotation.SetHealth(downstream, up);
        }
        catch (Exception e)
        {
            LogApplyFailed(_logger, _listener, downstream.Name, downstream.Endpoint.ToString(), up ? "up" : "down", UserFixableException.Describe(e));
        }
    }

    private bool IsTracked(Downstream downstream, DownstreamHealth health)
    {
        lock (_gate)
        {
            return _probing.TryGetValue(downstream, out var current) && ReferenceEquals(current.Health, health);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: downstream {Downstream} ({Address}) is down after {Failures} failed probes; out of the rotation")]
    private static partial void LogDown(ILogger logger, string listener, string downstream, string address, int failures);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: cannot probe downstream {Downstream} ({Address}): {Error}; each probe that cannot run counts as failed")]
    private static partial void LogProbeCannotRun(ILogger logger, string listener, string downstream, string address, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: probes of downstream {Downstream} ({Address}) run again")]
    private static partial void LogProbeRunsAgain(ILogger logger, string listener, string downstream, string address);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: downstream {Downstream} ({Address}) is {State}, but applying that to the data path failed: {Error}")]
    private static partial void LogApplyFailed(ILogger logger, string listener, string downstream, string address, string state, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: downstream {Downstream} ({Address}) is up again after {Successes} good probes; back in the rotation")]
    private static partial void LogUp(ILogger logger, string listener, string downstream, string address, int successes);
}
