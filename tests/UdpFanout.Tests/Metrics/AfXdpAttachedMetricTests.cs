using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Metrics;

/// <summary>
/// udp_fanout_afxdp_attached (issue 17: tell native from generic XDP by the metric too), from a daemon whose
/// af_xdp listener attached for real on the proxy of a network-namespace testbed. A whole daemon in the proxy
/// namespace, so every thread that touches the interface is in it.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class AfXdpAttachedMetricTests : IDisposable
{
    private const int MetricsPort = 9718;
    private const string Attached = "udp_fanout_afxdp_attached";
    private readonly NetnsTestbed _bed = NetnsTestbed.Create("uxa", "10.249", downstreams: 1);

    public void Dispose() => _bed.Dispose();

    // veth attaches native XDP, and its AF_XDP sockets bind in copy mode (nic-tuning.md's driver list).
    [Theory]
    [InlineData("auto", "native")]
    [InlineData("native", "native")]
    [InlineData("skb", "skb")]
    public async Task Scrape_RunningAfXdpListener_OneSeriesOfValueOneWithTheModesItAttachedIn(string configured, string attached)
    {
        using var config = new TempConfig(Config(xdpListener: true, configured));
        using var daemon = new DaemonProcess(config.Path, _bed.Proxy);
        daemon.WaitReady();

        var scrape = await MetricsScrape.FromAsync(_bed.Proxy, MetricsPort);

        var series = Assert.Single(scrape.Series(Attached));
        Assert.Equal($"{Attached}{{listener=\"xdp\",mode=\"af_xdp\",xdp_mode=\"{attached}\",bind_mode=\"copy\"}}", series);
        Assert.Equal(1, scrape[series]);
        // What ip link says, so the metric and the kernel agree.
        Assert.Contains(attached == "native" ? " xdp " : " xdpgeneric ", _bed.Proxy.Exec($"ip link show {_bed.ProxyIngress}"));
    }

    [Fact]
    public async Task Scrape_AfterAReloadStopsTheListener_TheSeriesIsGoneWhileItsFinalCountsStillShow()
    {
        using var config = new TempConfig(Config(xdpListener: true, "auto"));
        using var daemon = new DaemonProcess(config.Path, _bed.Proxy);
        daemon.WaitReady();
        Assert.Single((await MetricsScrape.FromAsync(_bed.Proxy, MetricsPort)).Series(Attached, "listener=\"xdp\""));

        config.Write(Config(xdpListener: false, "auto"));
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");
        var scrape = await MetricsScrape.FromAsync(_bed.Proxy, MetricsPort);

        Assert.DoesNotContain("prog/xdp", _bed.Proxy.Exec($"ip link show {_bed.ProxyIngress}"));
        Assert.Empty(scrape.Series(Attached));
        // The counters of the stopped listener are in their grace period: the info went at once, they did not.
        Assert.NotEmpty(scrape.Series("udp_fanout_packets_received_total", "listener=\"xdp\""));
    }

    /// <summary>A userspace listener always (a config needs one), and the af_xdp one when <paramref name="xdpListener"/>.</summary>
    private string Config(bool xdpListener, string xdpMode)
    {
        var xdp = xdpListener ? $"""
              - name: xdp
                bind: "{_bed.ProxyAddress}:5515"
                mode: af_xdp
                interface: {_bed.ProxyIngress}
                xdp_mode: {xdpMode}
                downstream:
                  - {"{"} name: s0, address: "{_bed.DownstreamAddress(0)}:6001" {"}"}
            """ : "";
        return $"""
            listeners:
              - name: user
                bind: "{_bed.ProxyAddress}:5514"
                downstream:
                  - {"{"} name: s0, address: "{_bed.DownstreamAddress(0)}:6000" {"}"}
            {xdp}
            metrics: {"{"} enabled: true, bind: "127.0.0.1:{MetricsPort}" {"}"}
            """;
    }
}
