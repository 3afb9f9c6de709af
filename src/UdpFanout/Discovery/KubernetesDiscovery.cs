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
/// between, the last published downstreams stay in force.
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

    private KubernetesDiscovery(
        string listener, KubernetesDiscoveryConfig config, DestinationRules rules, Action<IReadOnlyList<Downstream>> publish, WatchTiming timing, TimeProvider time, ILogger logger)
    {
        _listener = listener;
        Config = config;
        _rules = rules;
        _publish = publish;
        _logger = logger;
        _client = KubernetesConnection.Create(config);
        _watch = new EndpointSliceWatch(_client, config.Namespace, config.Service, timing, time, this);
    }

    public KubernetesDiscoveryConfig Config { get; }

    /// <summary>Completes when the first list has been published.</summary>
    public Task FirstSync => _firstSync.Task;

    /// <summary>Whether the last request to the API server succeeded.</summary>
    public bool ApiReachable => _reachable;

    public int Endpoints => Volatile.Read(ref _last)?.Count ?? 0;

    /// <summary>How often a list or watch event could not be applied to the data path.</summary>
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
                LogAppliedAgain(_logger, _listener, Config.Namespace, Config.Service);
            }
        }
        catch (Exception e)
        {
            // The API answered; the data path refused the change (a BPF map update that failed, say). Not an API
            // failure: the watch goes on, and since the last published list is unchanged, the next event tries again.
            Interlocked.Increment(ref _applyFailures);
            if (!_applyFailing)
            {
                _applyFailing = true;
                LogApplyFailed(_logger, _listener, Config.Namespace, Config.Service, UserFixableException.Describe(e));
            }
        }
        _firstSync.TrySetResult();
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

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: the endpoints of {Namespace}/{Service} changed but applying them to the data path failed: {Error}; the previous downstreams keep serving and the next change tries again")]
    private static partial void LogApplyFailed(ILogger logger, string listener, string @namespace, string service, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: the endpoints of {Namespace}/{Service} apply to the data path again")]
    private static partial void LogAppliedAgain(ILogger logger, string listener, string @namespace, string service);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: the watch of {Namespace}/{Service} cannot resume ({Reason}); listing again")]
    private static partial void LogRelisting(ILogger logger, string listener, string @namespace, string service, string reason);
}
