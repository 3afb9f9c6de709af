using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Hosting;
using UdpFanout.Metrics;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Metrics;

/// <summary>
/// The collector over real userspace listeners on loopback, reloaded through the real supervisor, scraped
/// through the registry's own export, with a clock the test moves.
/// </summary>
public sealed class FanoutMetricsTests : IAsyncLifetime
{
    private const string DownstreamPackets = "udp_fanout_downstream_packets_forwarded_total";

    private readonly ManualClock _clock = new();
    private readonly ListenerSupervisor _supervisor;
    private readonly FanoutMetrics _metrics;
    private readonly CountingReceiver _receiver = new();
    private readonly Socket _client = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Dictionary<string, IPEndPoint> _binds = [];
    private long _sent;

    public FanoutMetricsTests()
    {
        var retired = new RetiredStats();
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, FileDescriptorStores.None())]);
        _supervisor = new ListenerSupervisor(registry, new ListenerSelection(null), retired, FileDescriptorStores.None(), _clock, NullLogger<ListenerSupervisor>.Instance);
        _metrics = new FanoutMetrics(_supervisor, retired, _clock);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _supervisor.DisposeAsync();
        _client.Dispose();
        _receiver.Dispose();
    }

    [Fact]
    public async Task Scrape_DownstreamRemoved_FinalCountsShowForTheGracePeriodThenTheSeriesAndCountersGo()
    {
        await ApplyAsync(("syslog", ["a", "b"]));
        await SendAsync("syslog", 10);
        Assert.Equal(5, (await ScrapeAsync())[Series("syslog", "b")]);

        await ApplyAsync(("syslog", ["a"]));
        Assert.Equal(5, (await ScrapeAsync())[Series("syslog", "b")]);
        _clock.Advance(FanoutMetrics.RetirementGrace - TimeSpan.FromSeconds(1));
        Assert.Equal(5, (await ScrapeAsync())[Series("syslog", "b")]);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var scrape = await ScrapeAsync();

        Assert.Empty(scrape.Series(DownstreamPackets, "downstream=\"b\""));
        Assert.Empty(scrape.Series("udp_fanout_downstream_bytes_forwarded_total", "downstream=\"b\""));
        Assert.Equal(5, scrape[Series("syslog", "a")]);
        Assert.Equal(["a"], _supervisor.Running.Single().ReadStats().Downstreams.Select(d => d.Downstream.Name));
    }

    [Fact]
    public async Task Scrape_60ReloadsRenamingOneDownstreamAMinuteApart_OnlyTheGracePeriodsWorthOfSeriesRemain()
    {
        for (var i = 0; i < 60; i++)
        {
            await ApplyAsync(("syslog", [$"d{i}"]));
            await SendAsync("syslog", 1);
            await ScrapeAsync();
            _clock.Advance(TimeSpan.FromMinutes(1));
        }
        // The receiver can have the last datagram a moment before its worker counts it.
        await Eventually.TrueAsync(() => _supervisor.Running.Single().ReadStats().Downstreams.Any(d => d.Downstream.Name == "d59" && d.Packets == 1), "d59's datagram counted");
        var scrape = await ScrapeAsync();

        // This scrape is a minute after the last reload. d55..d58 were first found gone one to four minutes ago
        // and still show their final count; d54 was found gone five minutes ago and went; d59 is configured.
        string[] expected = [.. Enumerable.Range(55, 5).Select(i => $"d{i}")];
        Assert.Equal(expected.Select(d => Series("syslog", d)).Order(), scrape.Series(DownstreamPackets).Order());
        Assert.All(expected, d => Assert.Equal(1, scrape[Series("syslog", d)]));
        Assert.Equal(expected, _supervisor.Running.Single().ReadStats().Downstreams.Select(d => d.Downstream.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Scrape_10000Downstreams_TheSecondScrapeAllocatesNothingThatGrowsWithThem()
    {
        await ApplyAsync(("big", [.. Enumerable.Range(0, 10_000).Select(i => $"d{i}")]));
        await SendAsync("big", 100);
        using var text = new MemoryStream();
        // The first scrape sizes what is kept: the rows' lists, the counters' dictionaries, the writer's buffer.
        ExportOnThisThread(text);
        text.SetLength(0);

        var before = GC.GetAllocatedBytesForCurrentThread();
        ExportOnThisThread(text);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        var scrape = MetricsScrape.Parse(System.Text.Encoding.UTF8.GetString(text.ToArray()));
        Assert.Equal(10_000, scrape.Series(DownstreamPackets).Count);
        Assert.Equal(10_000, scrape.Series("udp_fanout_downstream_up").Count);
        Assert.Equal(100, scrape.Sum(DownstreamPackets));
        // A few kilobytes of the listener families and their enumerators; a single byte per downstream would be 10 KB
        // more, and the reading this replaced was 1.5 MB.
        Assert.True(allocated < 32 * 1024, $"the second scrape of 10,000 downstreams allocated {allocated:N0} bytes");
    }

    /// <summary>
    /// The export into a memory stream completes without yielding, so the thread's allocation count sees all of it;
    /// asserted, or a continuation on another thread would hide allocations.
    /// </summary>
    private void ExportOnThisThread(Stream destination)
    {
        var export = _metrics.ExportAsync(destination, CancellationToken.None);
        Assert.True(export.IsCompletedSuccessfully, "the export completed synchronously");
    }

    [Fact]
    public async Task Scrape_ListenerRemoved_ItsFinalCountsShowForTheGracePeriodThenEverySeriesOfItGoes()
    {
        await ApplyAsync(("keep", ["a"]), ("gone", ["b"]));
        await SendAsync("gone", 4);
        await SendAsync("keep", 3);
        await ScrapeAsync();

        await ApplyAsync(("keep", ["a"]));
        var final = await ScrapeAsync();
        _clock.Advance(FanoutMetrics.RetirementGrace);
        var after = await ScrapeAsync();

        Assert.Equal(4, final["udp_fanout_packets_received_total{listener=\"gone\",mode=\"userspace\"}"]);
        Assert.Equal(4, final[Series("gone", "b")]);
        Assert.Empty(after.SeriesWith("listener=\"gone\""));
        Assert.Equal(3, after["udp_fanout_packets_received_total{listener=\"keep\",mode=\"userspace\"}"]);
        Assert.Equal(3, after[Series("keep", "a")]);
    }

    [Fact]
    public async Task Scrape_SixParallelScrapers_EveryScrapeHasEveryDownstreamUpSeries()
    {
        var names = Enumerable.Range(0, 20).Select(i => $"d{i}").ToArray();
        await ApplyAsync(("syslog", names));
        var expected = names.Select(n => $"udp_fanout_downstream_up{{listener=\"syslog\",mode=\"userspace\",downstream=\"{n}\"").ToArray();

        var incomplete = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            var missing = 0;
            for (var scrape = 0; scrape < 1500; scrape++)
            {
                var text = await ExportAsync();
                if (!expected.All(text.Contains))
                {
                    missing++;
                }
            }
            return missing;
        })));

        Assert.True(incomplete.Sum() == 0, $"{incomplete.Sum()} of 9000 scrapes lacked a udp_fanout_downstream_up series");
    }

    [Fact]
    public async Task Scrape_DrainedDownstream_WeightZeroStillUpAndGetsNothingUntilRaised()
    {
        await ApplyAsync(("syslog", ["a", "b"]), weightOfB: 0);
        await SendAsync("syslog", 10);
        var drained = await ScrapeAsync();
        await ApplyAsync(("syslog", ["a", "b"]), weightOfB: 2);
        await SendAsync("syslog", 30);
        var raised = await ScrapeAsync();

        Assert.Equal((1, 0, 1), (drained[Gauge("weight", "a")], drained[Gauge("weight", "b")], drained[Gauge("up", "b")]));
        Assert.Equal(10, drained[Series("syslog", "a")]);
        Assert.Empty(drained.Series(DownstreamPackets, "downstream=\"b\""));
        Assert.Equal((2, 10 + 10, 20), (raised[Gauge("weight", "b")], raised[Series("syslog", "a")], raised[Series("syslog", "b")]));
    }

    /// <summary>An IPv6 endpoint reads in labels as users write it in the config: in brackets before the port.</summary>
    [Fact]
    public async Task Scrape_Ipv6ListenerAndDownstream_AddressLabelInBrackets()
    {
        using var receiver = new CountingReceiver(IPAddress.IPv6Loopback);
        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
        var bind = new IPEndPoint(IPAddress.IPv6Loopback, LoopbackPorts.FreeUdp().Port);
        var listener = new ListenerConfig { Name = "v6", Bind = bind, Downstreams = new([new DownstreamConfig("a", receiver.Endpoint)]) };
        await _supervisor.ApplyAsync(new FanoutConfig { Listeners = new([listener]) }, CancellationToken.None);

        for (var i = 0; i < 5; i++)
        {
            client.SendTo(NumberedPayload.Create(i, 64), bind);
        }

        var series = $"{DownstreamPackets}{{listener=\"v6\",mode=\"userspace\",downstream=\"a\",address=\"[::1]:{receiver.Endpoint.Port}\"}}";
        await Eventually.TrueAsync(() => ScrapeAsync().GetAwaiter().GetResult().Series(DownstreamPackets).Contains(series), $"the series {series}");
        await Eventually.TrueAsync(() => ScrapeAsync().GetAwaiter().GetResult()[series] == 5, "five datagrams counted");
    }

    [Fact]
    public async Task Scrape_FewDownstreams_EveryFamilyMatchesTheGoldenExposition()
    {
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var refused = (IPEndPoint)closed.LocalEndPoint!;
        closed.Dispose();
        var listener = new ListenerConfig
        {
            Name = "syslog",
            Bind = Bind("syslog"),
            Downstreams = new([
                new DownstreamConfig("a", _receiver.Endpoint),
                new DownstreamConfig("b", _receiver.Endpoint, 0),
                new DownstreamConfig("c \\\"q\"", refused, 2),
            ]),
        };
        await _supervisor.ApplyAsync(new FanoutConfig { Listeners = new([listener]) }, CancellationToken.None);
        for (var i = 0; i < 6; i++)
        {
            _client.SendTo(NumberedPayload.Create(_sent++, 64), _binds["syslog"]);
        }
        await Eventually.TrueAsync(() => _supervisor.Running.Single().ReadStats() is { Forwarded: 6, IcmpErrors.Count: 1 } s && s.IcmpErrors[0].Count == 4,
            "six datagrams forwarded, four refused with an ICMP error");
        var configured = await ExportAsync();
        await ApplyAsync(("syslog", ["a"]));
        var retired = await ExportAsync();

        Assert.Equal(GoldenExposition.Trim(), $"{Downstreams(configured)}{RetirementMark}\n{Downstreams(retired)}".Trim());

        string Downstreams(string text) => ExpositionFamilies.Normalize(
            text.Replace(_receiver.Endpoint.ToString(), "RECEIVER").Replace(refused.ToString(), "REFUSED"),
            family => family.StartsWith("udp_fanout_downstream_", StringComparison.Ordinal));
    }

    private const string RetirementMark = "# after a reload that removed b and c:";

    private string Gauge(string name, string downstream) =>
        $"udp_fanout_downstream_{name}{{listener=\"syslog\",mode=\"userspace\",downstream=\"{downstream}\",address=\"{_receiver.Endpoint}\"}}";

    /// <summary>Applies a config of userspace listeners, each forwarding to its named downstreams, all at the one receiver.</summary>
    private Task ApplyAsync(params (string Name, string[] Downstreams)[] listeners) => ApplyAsync(listeners, weightOfB: 1);

    /// <param name="weightOfB">The weight of every downstream named "b"; the others have 1.</param>
    private Task ApplyAsync((string Name, string[] Downstreams) listener, int weightOfB) => ApplyAsync([listener], weightOfB);

    private Task ApplyAsync((string Name, string[] Downstreams)[] listeners, int weightOfB)
    {
        var configs = listeners.Select(l => new ListenerConfig
        {
            Name = l.Name,
            Bind = Bind(l.Name),
            Downstreams = new ValueList<DownstreamConfig>(l.Downstreams.Select(d => new DownstreamConfig(d, _receiver.Endpoint, d == "b" ? weightOfB : 1))),
        });
        return _supervisor.ApplyAsync(new FanoutConfig { Listeners = new ValueList<ListenerConfig>(configs) }, CancellationToken.None);
    }

    private IPEndPoint Bind(string listener)
    {
        if (!_binds.TryGetValue(listener, out var bind))
        {
            bind = LoopbackPorts.FreeUdp();
            _binds[listener] = bind;
        }
        return bind;
    }

    /// <summary>Sends numbered datagrams to a listener and waits until the receiver has them all.</summary>
    private async Task SendAsync(string listener, int count)
    {
        for (var i = 0; i < count; i++)
        {
            _client.SendTo(NumberedPayload.Create(_sent++, 64), _binds[listener]);
        }
        await Eventually.TrueAsync(() => _receiver.Count == _sent, $"{_sent} datagrams at the receiver");
    }

    private string Series(string listener, string downstream) =>
        $"{DownstreamPackets}{{listener=\"{listener}\",mode=\"userspace\",downstream=\"{downstream}\",address=\"{_receiver.Endpoint}\"}}";

    private async Task<MetricsScrape> ScrapeAsync() => MetricsScrape.Parse(await ExportAsync());

    private async Task<string> ExportAsync()
    {
        using var text = new MemoryStream();
        await _metrics.ExportAsync(text, CancellationToken.None);
        return System.Text.Encoding.UTF8.GetString(text.ToArray());
    }

    /// <summary>
    /// The per-downstream families of the scenario above exactly as prometheus-net 8.2.1 rendered them before the
    /// daemon wrote them itself (escaped names, the drained and the retired downstream), families sorted by name
    /// and samples sorted within each: their order means nothing to Prometheus.
    /// </summary>
    private const string GoldenExposition = """
        # HELP udp_fanout_downstream_bytes_forwarded_total UDP payload bytes forwarded to one downstream.
        # TYPE udp_fanout_downstream_bytes_forwarded_total counter
        udp_fanout_downstream_bytes_forwarded_total{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 128
        udp_fanout_downstream_bytes_forwarded_total{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED"} 256
        # HELP udp_fanout_downstream_icmp_errors_total ICMP errors the network returned for datagrams sent to one downstream (already counted as forwarded: they had left), by ICMP type.
        # TYPE udp_fanout_downstream_icmp_errors_total counter
        udp_fanout_downstream_icmp_errors_total{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED",type="port_unreachable"} 4
        # HELP udp_fanout_downstream_packets_forwarded_total Datagrams forwarded to one downstream.
        # TYPE udp_fanout_downstream_packets_forwarded_total counter
        udp_fanout_downstream_packets_forwarded_total{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 2
        udp_fanout_downstream_packets_forwarded_total{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED"} 4
        # HELP udp_fanout_downstream_up 1 while a downstream is in the rotation, 0 while health checks keep it out.
        # TYPE udp_fanout_downstream_up gauge
        udp_fanout_downstream_up{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 1
        udp_fanout_downstream_up{listener="syslog",mode="userspace",downstream="b",address="RECEIVER"} 1
        udp_fanout_downstream_up{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED"} 1
        # HELP udp_fanout_downstream_weight A downstream's configured weight; 0 while it is drained.
        # TYPE udp_fanout_downstream_weight gauge
        udp_fanout_downstream_weight{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 1
        udp_fanout_downstream_weight{listener="syslog",mode="userspace",downstream="b",address="RECEIVER"} 0
        udp_fanout_downstream_weight{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED"} 2
        # after a reload that removed b and c:
        # HELP udp_fanout_downstream_bytes_forwarded_total UDP payload bytes forwarded to one downstream.
        # TYPE udp_fanout_downstream_bytes_forwarded_total counter
        udp_fanout_downstream_bytes_forwarded_total{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 128
        udp_fanout_downstream_bytes_forwarded_total{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED"} 256
        # HELP udp_fanout_downstream_icmp_errors_total ICMP errors the network returned for datagrams sent to one downstream (already counted as forwarded: they had left), by ICMP type.
        # TYPE udp_fanout_downstream_icmp_errors_total counter
        udp_fanout_downstream_icmp_errors_total{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED",type="port_unreachable"} 4
        # HELP udp_fanout_downstream_packets_forwarded_total Datagrams forwarded to one downstream.
        # TYPE udp_fanout_downstream_packets_forwarded_total counter
        udp_fanout_downstream_packets_forwarded_total{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 2
        udp_fanout_downstream_packets_forwarded_total{listener="syslog",mode="userspace",downstream="c \\\"q\"",address="REFUSED"} 4
        # HELP udp_fanout_downstream_up 1 while a downstream is in the rotation, 0 while health checks keep it out.
        # TYPE udp_fanout_downstream_up gauge
        udp_fanout_downstream_up{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 1
        # HELP udp_fanout_downstream_weight A downstream's configured weight; 0 while it is drained.
        # TYPE udp_fanout_downstream_weight gauge
        udp_fanout_downstream_weight{listener="syslog",mode="userspace",downstream="a",address="RECEIVER"} 1
        """;
}
