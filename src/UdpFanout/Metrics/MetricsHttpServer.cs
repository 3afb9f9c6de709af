using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace UdpFanout.Metrics;

/// <summary>
/// A deliberately small HTTP/1.x server for <c>GET /metrics</c>: one request per connection, any Host header,
/// at most <see cref="MaxConnections"/> connections at a time, and a deadline for each. A connection that sends one
/// byte and nothing else holds a file descriptor only until the deadline, and a flood of them cannot use up the
/// descriptors the data path and the health probes need.
/// </summary>
/// <remarks>
/// prometheus-net's MetricServer sits on HttpListener, which matches the Host header against the bind address
/// (so <c>curl localhost:PORT/metrics</c> got 404) and neither caps nor times out connections.
/// </remarks>
internal sealed partial class MetricsHttpServer : IAsyncDisposable
{
    public const int MaxConnections = 16;
    private const int MaxRequestBytes = 8192;

    private static readonly byte[] EndOfHeaders = "\r\n\r\n"u8.ToArray();

    private readonly Socket _listener;
    private readonly Func<Stream, CancellationToken, Task> _export;
    private readonly TimeSpan _deadline;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxConnections, MaxConnections);
    // Response buffers of earlier scrapes, reused: a scrape of 10,000 downstreams is megabytes, written through one
    // buffer's chunk at a time, so no scrape allocates what grows with it. Usually one; at most one per connection.
    private readonly System.Collections.Concurrent.ConcurrentBag<ScrapeBuffer> _buffers = [];
    private Task _accepting = Task.CompletedTask;
    private bool _collectFailing;
    private bool _acceptFailing;

    private MetricsHttpServer(Socket listener, Func<Stream, CancellationToken, Task> export, TimeSpan deadline, ILogger logger)
    {
        _listener = listener;
        _export = export;
        _deadline = deadline;
        _logger = logger;
    }

    public IPEndPoint Bind => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>
    /// Binds and starts serving; throws <see cref="SocketException"/> when the address cannot be bound.
    /// <paramref name="export"/> writes the text of one scrape; <paramref name="deadline"/> is how long one
    /// connection may take from accept to the end of its response.
    /// </summary>
    public static MetricsHttpServer Start(IPEndPoint bind, Func<Stream, CancellationToken, Task> export, TimeSpan deadline, ILogger logger)
    {
        var listener = new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A restart must not wait for the previous process's connections in TIME_WAIT. SO_REUSEADDR alone:
            // .NET's ReuseAddress option sets SO_REUSEPORT too, which would let a second daemon share the port.
            listener.SetRawSocketOption(Interop.Libc.SOL_SOCKET, Interop.Libc.SO_REUSEADDR, BitConverter.GetBytes(1));
            listener.Bind(bind);
            listener.Listen(64);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        var server = new MetricsHttpServer(listener, export, deadline, logger);
        server._accepting = Task.Run(server.AcceptLoopAsync);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        // Connections in flight end at the stop token; a second at most for all of them, as the daemon has two to stop.
        var until = Environment.TickCount64 + 1000;
        var ended = 0;
        while (ended < MaxConnections && await _slots.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(0, until - Environment.TickCount64))))
        {
            ended++;
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // EMFILE, ECONNABORTED and the like: this connection is lost, the server goes on. Said once until an
                // accept works again; a short pause keeps a descriptor shortage from turning into a busy loop.
                if (!_acceptFailing)
                {
                    _acceptFailing = true;
                    LogAcceptFailed(_logger, Model.UserFixableException.Describe(e));
                }
                // Not Task.Delay: when the process has never used a timer, its first one starts the runtime's
                // timer thread, which cannot start without descriptors, and the loop would never wake again.
                Thread.Sleep(100);
                continue;
            }
            _acceptFailing = false;
            if (!_slots.Wait(0))
            {
                // Over the cap: closed at once rather than left queued, so it holds no descriptor.
                connection.Dispose();
                continue;
            }
            _ = Task.Run(() => ServeAsync(connection));
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            deadline.CancelAfter(_deadline);
            var request = await ReadRequestLineAsync(connection, deadline.Token);
            if (request is null)
            {
                await connection.SendAsync(Response(400, "Bad Request", "bad request\n"), SocketFlags.None, deadline.Token);
            }
            else if (Refusal(request) is { } refusal)
            {
                await connection.SendAsync(refusal, SocketFlags.None, deadline.Token);
            }
            else
            {
                await SendMetricsAsync(connection, request.EndsWith("HTTP/1.0", StringComparison.Ordinal), deadline.Token);
            }
            connection.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
        {
            // Too slow, gone, or the daemon is stopping: the connection just closes.
        }
        finally
        {
            connection.Dispose();
            _slots.Release();
        }
    }

    /// <summary>The request line, once the whole header has arrived; null when it is not HTTP.</summary>
    private static async Task<string?> ReadRequestLineAsync(Socket connection, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxRequestBytes];
        var length = 0;
        while (buffer.AsSpan(0, length).IndexOf(EndOfHeaders) < 0)
        {
            if (length == buffer.Length)
            {
                return null;
            }
            var read = await connection.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                throw new IOException("the client closed the connection before the end of its request");
            }
            length += read;
        }
        var lineEnd = buffer.AsSpan(0, length).IndexOf("\r\n"u8);
        return Encoding.ASCII.GetString(buffer, 0, lineEnd);
    }

    /// <summary>The response to a request that is not a GET of /metrics; null for one that is.</summary>
    private static byte[]? Refusal(string requestLine)
    {
        var parts = requestLine.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return Response(400, "Bad Request", "bad request\n");
        }
        if (parts[0] != "GET")
        {
            return Response(405, "Method Not Allowed", "only GET\n");
        }
        var path = parts[1].Split('?')[0];
        return path is "/metrics" or "/metrics/" ? null : Response(404, "Not Found", "the metrics are at /metrics\n");
    }

    /// <summary>
    /// Renders the metrics through a reused buffer straight to the connection (see <see cref="ScrapeBuffer"/>). A
    /// collection that fails before anything was sent answers 500; one that fails later can only cut the response
    /// short, which the client sees as a failed scrape (a chunked body without its last chunk).
    /// </summary>
    private async Task SendMetricsAsync(Socket connection, bool http10, CancellationToken cancellationToken)
    {
        if (!_buffers.TryTake(out var buffer))
        {
            buffer = new ScrapeBuffer();
        }
        try
        {
            // Without Nagle's wait: the last, short piece would sit until the client acknowledged the ones before.
            connection.NoDelay = true;
            // The buffer's sends block (the exposition writers are synchronous): the deadline bounds them too.
            connection.SendTimeout = (int)_deadline.TotalMilliseconds;
            buffer.Reset(connection, "text/plain; version=0.0.4; charset=utf-8", http10);
            try
            {
                await _export(buffer, cancellationToken);
                if (_collectFailing)
                {
                    _collectFailing = false;
                    LogCollectRecovered(_logger);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException and not SocketException)
            {
                // Once until a scrape works again: Prometheus scrapes every few seconds.
                if (!_collectFailing)
                {
                    _collectFailing = true;
                    LogCollectFailed(_logger, Model.UserFixableException.Describe(e));
                }
                if (!buffer.Started)
                {
                    await connection.SendAsync(
                        Response(500, "Internal Server Error", "collecting the metrics failed; the daemon's log says why\n"), SocketFlags.None, cancellationToken);
                }
                return;
            }
            buffer.Finish();
        }
        finally
        {
            _buffers.Add(buffer);
        }
    }

    private static byte[] Response(int status, string reason, string body) =>
        Response(status, reason, Encoding.UTF8.GetBytes(body), "text/plain; charset=utf-8");

    private static byte[] Response(int status, string reason, byte[] body, string contentType) =>
        [.. Encoding.ASCII.GetBytes(Head(status, reason, contentType, $"Content-Length: {body.Length}")), .. body];

    /// <summary>A response's status line and headers; <paramref name="framing"/> says where its body ends (empty: at the close).</summary>
    public static string Head(int status, string reason, string contentType, string framing) =>
        $"HTTP/1.1 {status} {reason}\r\nContent-Type: {contentType}\r\n{(framing.Length > 0 ? framing + "\r\n" : "")}Connection: close\r\n\r\n";

    [LoggerMessage(Level = LogLevel.Error, Message = "metrics: accepting connections fails: {Error}; retrying")]
    private static partial void LogAcceptFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "metrics: collecting the metrics failed, scrapes get 500 until it works again: {Error}")]
    private static partial void LogCollectFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "metrics: collecting works again")]
    private static partial void LogCollectRecovered(ILogger logger);
}
