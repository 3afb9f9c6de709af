using System.Net;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Discovery;

/// <summary>
/// One listener's Kubernetes discovery: watches the service's EndpointSlices and publishes the downstreams they
/// name whenever that list changes. Says once when the API becomes unreachable and once when it is back; in
/// between, the last published downstreams stay in force. A change the data path refuses is tried again every
/// <see cref="WatchTiming.ApplyRetry"/> until it applies or a newer one replaces it.
/// </summary>
internal sealed partial class KubernetesDiscovery : IEndpointSliceObserver, IAsyncDisposable
{
    private readonly string _listener;
    private readonly Action<IReadOnlyList<Downstream>> _publish;
    private readonly ILogger _logger;
    private readonly Kubernetes _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstSync = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly EndpointSliceWatch _watch;
    private readonly DestinationRules _rules;
    private readonly WatchTiming _timing;
    private readonly TimeProvider _time;
    // Applying is serialized between the watch task and the retry timer.
    private readonly Lock _applying = new();
    // Endpoints already warned about: a refused endpoint stays in its slice, and every later event would repeat it.
    private readonly HashSet<IPEndPoint> _refused = [];
    private Task _watching = Task.CompletedTask;
    // Null until the first list: that one is always published, even empty, as it replaces what a reload's previous
    // discovery had found.
    private IReadOnlyList<Downstream>? _last;
    private bool _everReached;
    private volatile bool _reachable;
    private long _relists;
    private long _failures;
    private long _applyFailures;
    private bool _applyFailing;
    // While the data path refuses: the newest slices, which the timer tries again.
    private IReadOnlyCollection<V1EndpointSlice>? _refusedSlices;
    private ITimer? _retry;
    private bool _disposed;

    private KubernetesDiscovery(
        string listener, KubernetesDiscoveryConfig config, DestinationRules rules, Action<IReadOnlyList<Downstream>> publish, WatchTiming timing, TimeProvider time, ILogger logger)
    {
        _listener = listener;
        Config = config;
        _rules = rules;
        _publish = publish;
        _logger = logger;
        _timing = timing;
        _time = time;
        _client = KubernetesConnection.Create(config);
        _watch = new EndpointSliceWatch(_client, config.Namespace, config.Service, timing, time, this);
    }

    public KubernetesDiscoveryConfig Config { get; }

    /// <summary>Completes when the first list has been published.</summary>
    public Task FirstSync => _firstSync.Task;

    /// <summary>Whether the last request to the API server succeeded.</summary>
    public bool ApiReachable => _reachable;

    public int Endpoints => Volatile.Read(ref _last)?.Count ?? 0;

    /// <summary>How often a list, watch event or retry could not be applied to the data path.</summary>
    public long ApplyFailures => Interlocked.Read(ref _applyFailures);

    /// <summary>How often the watch had to list again because its resume point was gone.</summary>
    public long Relists => Interlocked.Read(ref _relists);

    /// <summary>
    /// Makes the API client without watching yet; throws <see cref="DiscoveryException"/> when there is no way to
    /// reach the API, so a reload can refuse before it stops the discovery in force. Endpoints that
    /// <paramref name="rules"/> refuse are left out, with one warning each.
    /// </summary>
    public static KubernetesDiscovery Create(
        string listener, KubernetesDiscoveryConfig config, DestinationRules rules, Action<IReadOnlyList<Downstream>> publish, WatchTiming timing, TimeProvider time, ILogger logger) =>
        new(listener, config, rules, publish, timing, time, logger);

    /// <summary>Starts listing and watching; downstreams are published from the watch task from now on.</summary>
    public void Start() => _watching = Task.Run(() => _watch.RunAsync(_stop.Token));

    public void SlicesChanged(IReadOnlyCollection<V1EndpointSlice> slices)
    {
        Apply(slices);
        _firstSync.TrySetResult();
    }

    private void Apply(IReadOnlyCollection<V1EndpointSlice> slices)
    {
        lock (_applying)
        {
            if (_disposed)
            {
                return;
            }
            try
            {
                IReadOnlyList<Downstream> next = EndpointSliceDownstreams.From(slices, Config).Where(Allowed).ToArray();
                if (_last is null || !next.SequenceEqual(_last))
                {
                    // Published first, so that when Endpoints shows the new count the data path already has it.
                    _publish(next);
                    Volatile.Write(ref _last, next);
                    LogEndpoints(_logger, _listener, Config.Namespace, Config.Service, next.Count, slices.Count);
                }
                if (_applyFailing)
                {
                    _applyFailing = false;
                    _refusedSlices = null;
                    _retry?.Dispose();
                    _retry = null;
                    LogAppliedAgain(_logger, _listener, Config.Namespace, Config.Service);
                }
            }
            catch (Exception e)
            {
                // The API answered; the data path refused the change (a BPF map update that failed, say). Not an API
                // failure: the watch goes on, and since the last published list is unchanged, the timer and the next
                // event try again, each with the newest slices.
                Interlocked.Increment(ref _applyFailures);
                _refusedSlices = slices;
                _retry ??= _time.CreateTimer(_ => RetryRefused(), null, _timing.ApplyRetry, _timing.ApplyRetry);
                if (!_applyFailing)
                {
                    _applyFailing = true;
                    LogApplyFailed(_logger, _listener, Config.Namespace, Config.Service, UserFixableException.Describe(e), _timing.ApplyRetry.TotalSeconds);
                }
            }
        }
    }

    private void RetryRefused()
    {
        IReadOnlyCollection<V1EndpointSlice>? refused;
        lock (_applying)
        {
            refused = _refusedSlices;
        }
        if (refused is not null)
        {
            Apply(refused);
        }
    }

    public void Reachable()
    {
        if (!_reachable && _everReached)
        {
            LogReachableAgain(_logger, _listener, Config.Namespace, Config.Service);
        }
        _everReached = true;
        _reachable = true;
    }

    public void Unreachable(Exception error, TimeSpan retryIn)
    {
        // Once when the API is lost, and once for a first contact that fails; not at every retry.
        if (_reachable || !_everReached && ++_failures == 1)
        {
            LogUnreachable(_logger, _listener, Config.Namespace, Config.Service, error.Message, Endpoints, retryIn.TotalSeconds);
        }
        _reachable = false;
    }

    public void Relisting(string reason)
    {
        Interlocked.Increment(ref _relists);
        LogRelisting(_logger, _listener, Config.Namespace, Config.Service, reason);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _watching;
        lock (_applying)
        {
            // A retry that fires now finds this and leaves the data path of a stopped listener alone.
            _disposed = true;
            _retry?.Dispose();
        }
        _stop.Dispose();
        _client.Dispose();
    }

    private bool Allowed(Downstream endpoint)
    {
        if (_rules.Refusal(endpoint.Endpoint) is not { } reason)
        {
            return true;
        }
        if (_refused.Add(endpoint.Endpoint))
        {
            LogEndpointRefused(_logger, _listener, Config.Namespace, Config.Service, endpoint.Name, reason);
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: service {Namespace}/{Service} has {Endpoints} ready endpoints in {Slices} EndpointSlices")]
    private static partial void LogEndpoints(ILogger logger, string listener, string @namespace, string service, int endpoints, int slices);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: endpoint {Pod} of service {Namespace}/{Service} is left out: {Reason}")]
    private static partial void LogEndpointRefused(ILogger logger, string listener, string @namespace, string service, string pod, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: the Kubernetes API is unreachable for {Namespace}/{Service} ({Error}); the last known {Endpoints} downstreams keep serving; retrying in {RetrySeconds} s")]
    private static partial void LogUnreachable(ILogger logger, string listener, string @namespace, string service, string error, int endpoints, double retrySeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: the Kubernetes API answers again for {Namespace}/{Service}")]
    private static partial void LogReachableAgain(ILogger logger, string listener, string @namespace, string service);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: the endpoints of {Namespace}/{Service} changed but applying them to the data path failed: {Error}; the previous downstreams keep serving, and the change is tried again every {RetrySeconds} s and at the next event")]
    private static partial void LogApplyFailed(ILogger logger, string listener, string @namespace, string service, string error, double retrySeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: the endpoints of {Namespace}/{Service} apply to the data path again")]
    private static partial void LogAppliedAgain(ILogger logger, string listener, string @namespace, string service);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: the watch of {Namespace}/{Service} cannot resume ({Reason}); listing again")]
    private static partial void LogRelisting(ILogger logger, string listener, string @namespace, string service, string reason);
}
