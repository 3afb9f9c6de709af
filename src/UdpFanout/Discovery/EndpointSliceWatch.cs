using System.Net;
using System.Text.Json;
using k8s;
using k8s.Models;

namespace UdpFanout.Discovery;

/// <summary>
/// Keeps an up-to-date copy of one service's EndpointSlices: list (paged), then watch from the list's
/// resourceVersion with bookmarks, resume from the last version seen when the stream ends, relist on 410 Gone, and
/// back off exponentially while the API server cannot be reached. The copy is never cleared by a failure, so
/// the last known endpoints keep serving through an outage.
/// </summary>
/// <remarks>
/// KubernetesClient.Aot (the flavour of the official client that Native AOT can compile) has the typed list call
/// and the models but no watch helper, so the watch request is made here on the client's own HttpClient and
/// credentials, and each line of the stream is decoded with the client's JSON context.
/// </remarks>
internal sealed class EndpointSliceWatch
{
    private readonly Kubernetes _client;
    private readonly string _namespace;
    private readonly string _selector;
    private readonly WatchTiming _timing;
    private readonly TimeProvider _time;
    private readonly IEndpointSliceObserver _observer;
    private Dictionary<string, V1EndpointSlice> _slices = new(StringComparer.Ordinal);
    private string? _resourceVersion;

    public EndpointSliceWatch(Kubernetes client, string @namespace, string service, WatchTiming timing, TimeProvider time, IEndpointSliceObserver observer)
    {
        _client = client;
        _namespace = @namespace;
        _selector = $"kubernetes.io/service-name={service}";
        _timing = timing;
        _time = time;
        _observer = observer;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = _timing.InitialBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (_resourceVersion is null)
                {
                    await ListAsync(cancellationToken);
                }
                var started = _time.GetTimestamp();
                var lines = await WatchAsync(cancellationToken);
                if (lines == 0 && _time.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
                {
                    // A watch that ends at once with nothing in it is a server or proxy in trouble; do not spin.
                    throw new IOException("the watch stream ended as soon as it opened");
                }
                backoff = _timing.InitialBackoff;
            }
            catch (ResourceVersionExpiredException e)
            {
                _resourceVersion = null;
                _observer.Relisting(e.Message);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Everything else (refused, reset, timed out, 5xx, 403, a malformed stream) is retried: discovery
                // must never take the daemon down, and the last known endpoints keep serving meanwhile.
                _observer.Unreachable(e, backoff);
                try
                {
                    await Task.Delay(backoff, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _timing.MaxBackoff.Ticks));
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: the request in flight ends however the client reports it (a cancellation, or the 401
                // or reset it was already getting), and none of that may fail the stop.
                return;
            }
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var slices = new Dictionary<string, V1EndpointSlice>(StringComparer.Ordinal);
        string? continueToken = null;
        string? resourceVersion;
        do
        {
            var page = await _client.DiscoveryV1.ListNamespacedEndpointSliceAsync(
                _namespace, labelSelector: _selector, limit: _timing.PageSize, continueParameter: continueToken, cancellationToken: cancellationToken);
            foreach (var slice in page.Items)
            {
                slices[slice.Metadata.Name] = slice;
            }
            continueToken = page.Metadata?.ContinueProperty;
            resourceVersion = page.Metadata?.ResourceVersion;
        }
        while (!string.IsNullOrEmpty(continueToken));

        // Replaced only once every page has arrived: a list cut short leaves the last known slices in force.
        _slices = slices;
        _resourceVersion = resourceVersion ?? throw new InvalidDataException("the EndpointSlice list has no resourceVersion");
        _observer.Reachable();
        _observer.SlicesChanged(_slices.Values);
    }

    /// <summary>Follows one watch stream to its end; returns how many lines it carried.</summary>
    private async Task<int> WatchAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_timing.WatchTimeout + _timing.StreamGrace);
        using var request = new HttpRequestMessage(HttpMethod.Get, WatchUri());
        if (_client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, deadline.Token);
        }
        using var response = await _client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        if (response.StatusCode == HttpStatusCode.Gone)
        {
            throw new ResourceVersionExpiredException(null);
        }
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"watch answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
        }
        _observer.Reachable();
        await using var stream = await response.Content.ReadAsStreamAsync(deadline.Token);
        using var reader = new StreamReader(stream);
        var lines = 0;
        while (await reader.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.Length > 0)
            {
                Apply(line);
                lines++;
            }
        }
        return lines;
    }

    private Uri WatchUri()
    {
        var baseUri = _client.BaseUri.AbsoluteUri.TrimEnd('/');
        var timeout = (int)_timing.WatchTimeout.TotalSeconds;
        return new Uri(
            $"{baseUri}/apis/discovery.k8s.io/v1/namespaces/{Uri.EscapeDataString(_namespace)}/endpointslices" +
            $"?watch=true&allowWatchBookmarks=true&labelSelector={Uri.EscapeDataString(_selector)}" +
            $"&resourceVersion={Uri.EscapeDataString(_resourceVersion!)}&timeoutSeconds={timeout}");
    }

    /// <summary>Applies one watch event: <c>{"type": ..., "object": ...}</c>.</summary>
    private void Apply(string line)
    {
        using var document = JsonDocument.Parse(line);
        var type = document.RootElement.GetProperty("type").GetString();
        var body = document.RootElement.GetProperty("object");
        switch (type)
        {
            case "ADDED" or "MODIFIED" or "DELETED":
                var slice = KubernetesJson.Deserialize<V1EndpointSlice>(body);
                if (type == "DELETED")
                {
                    _slices.Remove(slice.Metadata.Name);
                }
                else
                {
                    _slices[slice.Metadata.Name] = slice;
                }
                _resourceVersion = slice.Metadata.ResourceVersion;
                _observer.SlicesChanged(_slices.Values);
                break;
            case "BOOKMARK":
                // Only metadata.resourceVersion is meaningful in a bookmark: the point to resume from.
                _resourceVersion = body.GetProperty("metadata").GetProperty("resourceVersion").GetString() ?? _resourceVersion;
                break;
            case "ERROR":
                var status = KubernetesJson.Deserialize<V1Status>(body);
                if (status.Code == (int)HttpStatusCode.Gone)
                {
                    throw new ResourceVersionExpiredException(status.Message);
                }
                throw new HttpRequestException($"watch error {status.Code} {status.Reason}: {status.Message}");
            default:
                throw new InvalidDataException($"unknown watch event type '{type}'");
        }
    }
}
