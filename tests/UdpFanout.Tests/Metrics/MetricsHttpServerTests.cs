using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using UdpFanout.Metrics;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Metrics;

public sealed class MetricsHttpServerTests : IAsyncLifetime
{
    // Short, so the test that waits for it is quick; long enough for a loaded machine to answer within it.
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(3);
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private MetricsHttpServer _server = null!;

    public Task InitializeAsync()
    {
        Prometheus.Metrics.WithCustomRegistry(_registry).CreateCounter("udp_fanout_test_total", "A counter for the test.").Inc(7);
        _server = MetricsHttpServer.Start(new IPEndPoint(IPAddress.Loopback, 0), _registry.CollectAndExportAsTextAsync, Deadline, NullLogger.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    [InlineData("metrics.example.org:80")]
    public async Task Get_AnyHostHeader_ServesTheMetrics(string host)
    {
        var response = await ExchangeAsync($"GET /metrics HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response);
        Assert.Contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n", response);
        Assert.Contains("\nudp_fanout_test_total 7\n", response);
    }

    [Fact]
    public async Task Get_ScrapeOfManyChunks_ArrivesWholeTwiceInARow()
    {
        var counter = Prometheus.Metrics.WithCustomRegistry(_registry).CreateCounter("udp_fanout_many_total", "Many series.", ["downstream"]);
        for (var i = 0; i < 5000; i++)
        {
            counter.WithLabels($"downstream-{i}").Inc(i);
        }
        using var expected = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(expected);
        using var http = new HttpClient();

        var first = await http.GetStringAsync($"http://127.0.0.1:{_server.Bind.Port}/metrics");
        var second = await http.GetStringAsync($"http://127.0.0.1:{_server.Bind.Port}/metrics");

        Assert.True(expected.Length > 3 * 65536, $"{expected.Length} bytes: not several chunks");
        Assert.Equal(Encoding.UTF8.GetString(expected.ToArray()), first);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Get_ScrapeOfManyChunks_IsSentChunkedAsItIsWrittenAndWholeToAnHttp10Client()
    {
        var counter = Prometheus.Metrics.WithCustomRegistry(_registry).CreateCounter("udp_fanout_many_total", "Many series.", ["downstream"]);
        for (var i = 0; i < 5000; i++)
        {
            counter.WithLabels($"downstream-{i}").Inc(i);
        }
        using var expected = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(expected);
        var text = Encoding.UTF8.GetString(expected.ToArray());

        var http11 = await ExchangeAsync("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        var http10 = await ExchangeAsync("GET /metrics HTTP/1.0\r\n\r\n");

        // Never the whole text held to learn its length: chunks of 64 KiB, then the last, empty one.
        var (head, body) = Split(http11);
        Assert.Contains("\r\nTransfer-Encoding: chunked\r\n", head);
        Assert.DoesNotContain("Content-Length", head);
        Assert.StartsWith("10000\r\n", body);
        Assert.EndsWith("\r\n0\r\n\r\n", body);
        // HTTP/1.0 knows no chunks: the body ends where the connection does.
        var (head10, body10) = Split(http10);
        Assert.DoesNotContain("Transfer-Encoding", head10);
        Assert.DoesNotContain("Content-Length", head10);
        Assert.Equal(text, body10);
    }

    [Fact]
    public async Task Get_SmallScrape_IsSentWholeWithItsLength()
    {
        var (head, body) = Split(await ExchangeAsync("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));

        Assert.Contains($"\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n", head);
        Assert.DoesNotContain("Transfer-Encoding", head);
    }

    [Fact]
    public async Task Get_CollectionFailsAfterTheFirstChunkWasSent_TheResponseEndsWithoutItsLastChunk()
    {
        await using var server = MetricsHttpServer.Start(new IPEndPoint(IPAddress.Loopback, 0), async (stream, _) =>
        {
            await stream.WriteAsync(new byte[200_000]);
            throw new InvalidOperationException("a collector broke");
        }, Deadline, NullLogger.Instance);
        using var http = new HttpClient();

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetStringAsync($"http://127.0.0.1:{server.Bind.Port}/metrics"));
    }

    [Fact]
    public async Task Get_ThroughHttpClientByName_ServesTheMetrics()
    {
        using var http = new HttpClient();

        var text = await http.GetStringAsync($"http://localhost:{_server.Bind.Port}/metrics");

        Assert.Contains("udp_fanout_test_total 7", text);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1", "HTTP/1.1 404 Not Found")]
    [InlineData("POST /metrics HTTP/1.1", "HTTP/1.1 405 Method Not Allowed")]
    [InlineData("hello", "HTTP/1.1 400 Bad Request")]
    public async Task Request_NotAMetricsGet_IsAnsweredWithItsStatus(string requestLine, string statusLine)
    {
        var response = await ExchangeAsync($"{requestLine}\r\nHost: x\r\n\r\n");

        Assert.StartsWith(statusLine + "\r\n", response);
    }

    [Fact]
    public async Task Connections_IdleAfterOneByte_BeyondTheCapAreClosedAtOnceAndTheRestAtTheDeadline()
    {
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < MetricsHttpServer.MaxConnections + 20; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(_server.Bind);
                await socket.SendAsync("G"u8.ToArray());
                idle.Add(socket);
            }
            // Each connection learns its fate by a read: 0 bytes once the server has closed it.
            var closedEarly = await Task.WhenAll(idle.Select(s => ClosedWithinAsync(s, TimeSpan.FromMilliseconds(500))));
            Assert.Equal(20, closedEarly.Count(c => c));

            var closedByDeadline = await Task.WhenAll(idle.Select(s => ClosedWithinAsync(s, Deadline * 2)));
            Assert.All(closedByDeadline, Assert.True);

            var response = await ExchangeAsync("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.StartsWith("HTTP/1.1 200 OK\r\n", response);
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Start_PortInUse_ThrowsSocketExceptionAndLeavesTheHolderServing()
    {
        var error = Assert.Throws<SocketException>(() => MetricsHttpServer.Start(_server.Bind, _registry.CollectAndExportAsTextAsync, Deadline, NullLogger.Instance));

        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", await ExchangeAsync("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    }

    [Fact]
    public async Task Dispose_WithIdleConnectionsOpen_ClosesThemAndReturnsWithinASecond()
    {
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(_server.Bind);
                await socket.SendAsync("G"u8.ToArray());
                idle.Add(socket);
            }
            await Task.Delay(100);
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();

            await _server.DisposeAsync();

            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"took {stopwatch.Elapsed}");
            var closed = await Task.WhenAll(idle.Select(s => ClosedWithinAsync(s, TimeSpan.FromMilliseconds(500))));
            Assert.All(closed, Assert.True);
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
    }

    private static (string Head, string Body) Split(string response)
    {
        var end = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (response[..(end + 2)], response[(end + 4)..]);
    }

    private async Task<string> ExchangeAsync(string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_server.Bind);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        using var stream = new NetworkStream(socket);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        return await reader.ReadToEndAsync(timeout.Token);
    }

    private static async Task<bool> ClosedWithinAsync(Socket socket, TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            var buffer = new byte[16];
            return await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }
}
