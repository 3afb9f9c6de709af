using System.Globalization;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>One scrape of the daemon's /metrics, parsed into series name (with labels) → value.</summary>
internal sealed class MetricsScrape
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Dictionary<string, double> _series;

    private MetricsScrape(Dictionary<string, double> series) => _series = series;

    public static async Task<MetricsScrape> FromAsync(int port) => Parse(await Http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));

    /// <summary>A scrape of 127.0.0.1:<paramref name="port"/> inside a network namespace, over a socket made there.</summary>
    public static async Task<MetricsScrape> FromAsync(NetworkNamespace network, int port)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellation) =>
            {
                var socket = network.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellation);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        }) { Timeout = TimeSpan.FromSeconds(5) };
        return Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));
    }

    /// <summary>Reads Prometheus text, such as a registry's own export.</summary>
    public static MetricsScrape Parse(string text)
    {
        var series = new Dictionary<string, double>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var space = line.LastIndexOf(' ');
            series[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        return new MetricsScrape(series);
    }

    /// <summary>The value of one series, e.g. <c>udp_fanout_packets_received_total{listener="a",mode="userspace"}</c>; 0 if absent.</summary>
    public double this[string series] => _series.GetValueOrDefault(series);

    /// <summary>The series of <paramref name="metric"/> (name with labels) whose labels contain all of <paramref name="labels"/>.</summary>
    public IReadOnlyList<string> Series(string metric, params string[] labels) =>
        _series.Keys.Where(s => s.StartsWith(metric + "{", StringComparison.Ordinal) && labels.All(s.Contains)).ToArray();

    /// <summary>Every series, of any metric, whose labels contain <paramref name="label"/>.</summary>
    public IReadOnlyList<string> SeriesWith(string label) => _series.Keys.Where(s => s.Contains(label)).ToArray();

    /// <summary>The sum over every series of a metric whose labels contain all of <paramref name="labels"/>.</summary>
    public double Sum(string metric, params string[] labels) =>
        _series.Where(s => s.Key.StartsWith(metric + "{", StringComparison.Ordinal) && labels.All(s.Key.Contains)).Sum(s => s.Value);
}
