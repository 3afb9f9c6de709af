using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Web;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// A Kubernetes API server on loopback, as far as EndpointSlice discovery uses one: HTTP/1.1, bearer tokens,
/// paged lists with a resourceVersion, chunked watch streams that replay history from a resourceVersion, bookmarks,
/// an <c>ERROR</c> event with 410 Gone once history is compacted, and a server that can go away and come back on
/// the same port. Every change bumps one global resourceVersion, as etcd's revision does.
/// </summary>
internal sealed class FakeKubernetesApi : IDisposable
{
    private const string SlicesPath = "/apis/discovery.k8s.io/v1/namespaces/{0}/endpointslices";

    private readonly string _namespace;
    private readonly string _token;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, JsonObject> _slices = new(StringComparer.Ordinal);
    private readonly List<(long Version, string Type, JsonObject Slice)> _history = [];
    private readonly List<string> _requests = [];
    private long _version = 1000;
    private long _compactedBelow;
    private TaskCompletionSource _changed = NewSignal();
    private TcpListener? _listener;
    private CancellationTokenSource _serving = new();
    private CancellationTokenSource _watches = new();

    public FakeKubernetesApi(string @namespace = "logging", string token = "s3cr3t-token")
    {
        _namespace = @namespace;
        _token = token;
        Start();
        Port = ((IPEndPoint)_listener!.LocalEndpoint).Port;
    }

    public int Port { get; private set; }

    /// <summary>How often an open watch that asked for bookmarks gets one.</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A broken server or proxy: every watch stream ends as soon as it opens, with nothing in it.</summary>
    public bool EndWatchesAtOnce { get; set; }

    /// <summary>The resourceVersion of the last bookmark sent.</summary>
    public long LastBookmark { get; private set; }

    /// <summary>Every request as "METHOD path?query", and whether its bearer token was right.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_gate)
            {
                return _requests.ToArray();
            }
        }
    }

    public long Version
    {
        get
        {
            lock (_gate)
            {
                return _version;
            }
        }
    }

    public string WriteKubeconfig(string directory, string? token = null)
    {
        var path = Path.Combine(directory, $"kubeconfig-{Guid.NewGuid():N}");
        File.WriteAllText(path, $$"""
            apiVersion: v1
            kind: Config
            clusters:
              - name: fake
                cluster:
                  server: http://127.0.0.1:{{Port}}
            contexts:
              - name: fake
                context: { cluster: fake, user: udp-fanout, namespace: {{_namespace}} }
            current-context: fake
            users:
              - name: udp-fanout
                user:
                  token: {{token ?? _token}}
            """);
        return path;
    }

    /// <summary>Creates or replaces a slice (by metadata.name) and tells open watches.</summary>
    public void Apply(JsonObject slice)
    {
        lock (_gate)
        {
            var name = (string)slice["metadata"]!["name"]!;
            var type = _slices.ContainsKey(name) ? "MODIFIED" : "ADDED";
            slice["metadata"]!["resourceVersion"] = (++_version).ToString();
            _slices[name] = slice;
            Record(type, slice);
        }
    }

    public void Delete(string name)
    {
        lock (_gate)
        {
            var slice = _slices[name];
            _slices.Remove(name);
            slice["metadata"]!["resourceVersion"] = (++_version).ToString();
            Record("DELETED", slice);
        }
    }

    /// <summary>Forgets all history: a watch resuming from any earlier resourceVersion gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_gate)
        {
            _compactedBelow = _version;
            _history.Clear();
        }
    }

    /// <summary>Ends every open watch stream cleanly, as a server does at its timeout; clients resume.</summary>
    public void EndWatches()
    {
        lock (_gate)
        {
            _watches.Cancel();
            _watches = new CancellationTokenSource();
        }
    }

    /// <summary>The API server goes away: no listener, every connection reset.</summary>
    public void Stop()
    {
        _serving.Cancel();
        _listener?.Stop();
        _listener = null;
    }

    /// <summary>Back on the same port.</summary>
    public void Start()
    {
        _serving = new CancellationTokenSource();
        var listener = new TcpListener(IPAddress.Loopback, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        _ = AcceptAsync(listener, _serving.Token);
    }

    public void Dispose() => Stop();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Record(string type, JsonObject slice)
    {
        _history.Add((_version, type, (JsonObject)slice.DeepClone()));
        _changed.TrySetResult();
        _changed = NewSignal();
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken serving)
    {
        while (!serving.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(serving);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = ServeAsync(client, serving);
        }
    }

    private async Task ServeAsync(TcpClient client, CancellationToken serving)
    {
        using var _ = client;
        await using var registration = serving.Register(() => client.Client.Close());
        try
        {
            var stream = client.GetStream();
            // Keep-alive: HttpClient reuses the connection for the next list.
            while (await ReadRequestAsync(stream, serving) is { } request)
            {
                if (!await RespondAsync(stream, request, serving))
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away, or the server was stopped.
        }
    }

    private static async Task<(string Method, Uri Uri, string? Authorization)?> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                return null;
            }
            head.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n");
        var requestLine = lines[0].Split(' ');
        var authorization = lines.Skip(1)
            .Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2 && p[0].Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            .Select(p => p[1].Trim())
            .FirstOrDefault();
        return (requestLine[0], new Uri("http://fake" + requestLine[1]), authorization);
    }

    private async Task<bool> RespondAsync(NetworkStream stream, (string Method, Uri Uri, string? Authorization) request, CancellationToken serving)
    {
        lock (_gate)
        {
            _requests.Add($"{request.Method} {request.Uri.PathAndQuery}");
        }
        if (request.Authorization != $"Bearer {_token}")
        {
            await WriteResponseAsync(stream, 401, "Unauthorized", Status(401, "Unauthorized", "Unauthorized"), serving);
            return true;
        }
        if (request.Method != "GET" || request.Uri.AbsolutePath != string.Format(SlicesPath, _namespace))
        {
            await WriteResponseAsync(stream, 404, "Not Found", Status(404, "NotFound", "the server could not find the requested resource"), serving);
            return true;
        }
        var query = HttpUtility.ParseQueryString(request.Uri.Query);
        var service = query["labelSelector"] is { } selector && selector.StartsWith("kubernetes.io/service-name=", StringComparison.Ordinal)
            ? selector["kubernetes.io/service-name=".Length..]
            : null;
        if (query["watch"] == "true")
        {
            await WatchAsync(stream, service, long.Parse(query["resourceVersion"] ?? "0"), query["allowWatchBookmarks"] == "true",
                int.Parse(query["timeoutSeconds"] ?? "1800"), serving);
            return false;
        }
        await WriteResponseAsync(stream, 200, "OK", List(service, query["limit"], query["continue"]), serving);
        return true;
    }

    private string List(string? service, string? limit, string? continueToken)
    {
        lock (_gate)
        {
            var matching = _slices.Values.Where(s => Selects(s, service)).OrderBy(s => (string)s["metadata"]!["name"]!, StringComparer.Ordinal).ToArray();
            var offset = continueToken is null ? 0 : int.Parse(continueToken);
            var size = limit is null ? matching.Length : int.Parse(limit);
            var page = matching.Skip(offset).Take(size).ToArray();
            var metadata = new JsonObject { ["resourceVersion"] = _version.ToString() };
            if (offset + size < matching.Length)
            {
                metadata["continue"] = (offset + size).ToString();
                metadata["remainingItemCount"] = matching.Length - offset - size;
            }
            // List items carry no kind and apiVersion; the list does.
            var items = page.Select(s =>
            {
                var item = (JsonObject)s.DeepClone();
                item.Remove("kind");
                item.Remove("apiVersion");
                return (JsonNode)item;
            });
            return new JsonObject
            {
                ["kind"] = "EndpointSliceList",
                ["apiVersion"] = "discovery.k8s.io/v1",
                ["metadata"] = metadata,
                ["items"] = new JsonArray(items.ToArray()),
            }.ToJsonString();
        }
    }

    private async Task WatchAsync(NetworkStream stream, string? service, long from, bool bookmarks, int timeoutSeconds, CancellationToken serving)
    {
        CancellationToken ended;
        lock (_gate)
        {
            ended = _watches.Token;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(serving, ended);
        stop.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
        await WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", serving);
        bool expired;
        lock (_gate)
        {
            expired = from < _compactedBelow;
        }
        if (EndWatchesAtOnce)
        {
            await WriteAsync(stream, "0\r\n\r\n", serving);
            return;
        }
        if (expired)
        {
            // What a real API server sends: 200, then one ERROR event carrying a 410 Status.
            var status = Status(410, "Expired", $"too old resource version: {from} ({_compactedBelow})");
            await WriteChunkAsync(stream, $"{{\"type\":\"ERROR\",\"object\":{status}}}\n", serving);
        }
        else
        {
            var sent = from;
            var nextBookmark = DateTime.UtcNow + BookmarkInterval;
            while (!stop.IsCancellationRequested)
            {
                (long Version, string Type, JsonObject Slice)[] pending;
                Task changed;
                long now;
                lock (_gate)
                {
                    pending = _history.Where(e => e.Version > sent && Selects(e.Slice, service)).ToArray();
                    changed = _changed.Task;
                    now = _version;
                }
                foreach (var (version, type, slice) in pending)
                {
                    await WriteChunkAsync(stream, new JsonObject { ["type"] = type, ["object"] = slice.DeepClone() }.ToJsonString() + "\n", serving);
                    sent = version;
                }
                if (bookmarks && DateTime.UtcNow >= nextBookmark)
                {
                    await WriteChunkAsync(stream, Bookmark(now) + "\n", serving);
                    LastBookmark = now;
                    sent = Math.Max(sent, now);
                    nextBookmark = DateTime.UtcNow + BookmarkInterval;
                }
                await Task.WhenAny(changed, Task.Delay(BookmarkInterval / 4, stop.Token)).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        if (!serving.IsCancellationRequested)
        {
            await WriteAsync(stream, "0\r\n\r\n", serving);
        }
    }

    private static bool Selects(JsonObject slice, string? service) =>
        service is null || (string?)slice["metadata"]!["labels"]?["kubernetes.io/service-name"] == service;

    private static string Bookmark(long version) =>
        new JsonObject
        {
            ["type"] = "BOOKMARK",
            ["object"] = new JsonObject
            {
                ["kind"] = "EndpointSlice",
                ["apiVersion"] = "discovery.k8s.io/v1",
                ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString() },
                ["addressType"] = "",
                ["endpoints"] = null,
            },
        }.ToJsonString();

    private static string Status(int code, string reason, string message) =>
        new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
            ["code"] = code,
        }.ToJsonString();

    private static async Task WriteResponseAsync(NetworkStream stream, int code, string phrase, string body, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        await WriteAsync(stream, $"HTTP/1.1 {code} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\n\r\n", cancellationToken);
        await stream.WriteAsync(bytes, cancellationToken);
    }

    private static async Task WriteChunkAsync(NetworkStream stream, string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await WriteAsync(stream, $"{bytes.Length:x}\r\n", cancellationToken);
        await stream.WriteAsync(bytes, cancellationToken);
        await WriteAsync(stream, "\r\n", cancellationToken);
    }

    private static Task WriteAsync(NetworkStream stream, string text, CancellationToken cancellationToken) =>
        stream.WriteAsync(Encoding.ASCII.GetBytes(text), cancellationToken).AsTask();
}
