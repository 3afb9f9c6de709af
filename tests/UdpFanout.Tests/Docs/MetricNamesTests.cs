using System.Net;
using System.Text.RegularExpressions;
using Pod = UdpFanout.Tests.Testing.EndpointSliceJson.Pod;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// Every metric name the README and docs/ mention is one the daemon exports: found in a scrape of a running daemon
/// with a userspace listener with static downstreams, one with Kubernetes discovery and health checks on, or in a
/// scrape of a daemon with a tc_ebpf and an af_xdp listener attached on the proxy of a network-namespace testbed.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed partial class MetricNamesTests : IDisposable
{
    private readonly FakeKubernetesApi _api = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("udp-fanout-docs-").FullName;
    private readonly CountingReceiver _receiver = new(IPAddress.Loopback);
    private readonly CountingReceiver _pod;
    private readonly int _metricsPort = LoopbackPorts.FreeTcp();

    public MetricNamesTests()
    {
        _pod = new CountingReceiver(IPAddress.Parse("127.0.0.11"));
    }

    public void Dispose()
    {
        _api.Dispose();
        _receiver.Dispose();
        _pod.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Docs_MentionOnlyMetricsTheDaemonExports()
    {
        var mentioned = OperatorDocs.Files.SelectMany(f => MetricName().Matches(OperatorDocs.Read(f)).Select(m => m.Value)).ToHashSet();
        var userspace = await ScrapeUserspaceDaemonAsync();
        var eBpf = await ScrapeEbpfDaemonAsync();

        Assert.Contains("udp_fanout_packets_dropped_total", userspace);
        Assert.Contains("udp_fanout_fallback_received_total", eBpf);
        Assert.Contains("udp_fanout_afxdp_rx_ring_full_total", eBpf);
        Assert.Contains("udp_fanout_afxdp_attached", eBpf);
        Assert.Empty(mentioned.Where(name => !userspace.Contains(name) && !eBpf.Contains(name)).Order());
    }

    [Fact]
    public void Docs_QuoteOnlyDropReasonsTheDaemonCounts()
    {
        var reasons = Enum.GetValues<UdpFanout.Model.DropReason>().Select(r => UdpFanout.Model.DropReasonLabels.MetricLabel(r)).ToHashSet();
        var tcPassed = TcPassedReason().Matches(File.ReadAllText(Path.Combine(OperatorDocs.Root, "src/UdpFanout/Forwarding/TcEbpf/TcEbpfForwarder.cs")))
            .Select(m => m.Groups[1].Value).ToHashSet();
        var quoted = OperatorDocs.Files.SelectMany(f => ReasonLabel().Matches(OperatorDocs.Read(f)).Select(m => m.Groups[1].Value)).ToHashSet();

        Assert.NotEmpty(quoted);
        Assert.Empty(quoted.Where(r => !reasons.Contains(r) && !tcPassed.Contains(r)).Order());
    }

    /// <summary>Metric families in the scrape: those with samples and those announced by a # TYPE line.</summary>
    private async Task<HashSet<string>> ScrapeUserspaceDaemonAsync()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-abcde", "vector", [new Pod("vector-0", "127.0.0.11")], portName: "syslog", port: _pod.Endpoint.Port));
        var config = Path.Combine(_directory, "config.yaml");
        File.WriteAllText(config, $"""
            listeners:
              - name: static
                bind: "{LoopbackPorts.FreeUdp()}"
                downstream:
                  - {"{"} name: sink, address: "{_receiver.Endpoint}" {"}"}
              - name: discovered
                bind: "{LoopbackPorts.FreeUdp()}"
                kubernetes:
                  namespace: logging
                  service: vector
                  port_name: syslog
                  kubeconfig: {_api.WriteKubeconfig(_directory)}
            health: {"{"} enabled: true, interval_secs: 0.5, timeout_secs: 0.2, protocol: icmp {"}"}
            metrics: {"{"} enabled: true, bind: "127.0.0.1:{_metricsPort}" {"}"}
            """);
        using var daemon = new DaemonProcess(config);
        daemon.WaitReady();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        string text = "";
        await Eventually.TrueAsync(() =>
        {
            text = http.GetStringAsync($"http://127.0.0.1:{_metricsPort}/metrics").Result;
            return text.Contains("udp_fanout_kubernetes_endpoints{") && text.Contains("udp_fanout_downstream_up{");
        }, "discovery and health in the scrape");
        return text.Split('\n')
            .Select(line => line.StartsWith("# TYPE ", StringComparison.Ordinal) ? line.Split(' ')[2] : line.StartsWith('#') ? "" : line.Split('{', ' ')[0])
            .Where(name => name.Length > 0)
            .ToHashSet();
    }

    /// <summary>
    /// Metric names in a scrape of a daemon with one listener of each eBPF mode on the testbed's proxy, tc_ebpf's with
    /// its XDP layer forced (xdp: on; auto leaves it out on a veth), so the layer's metrics are there too.
    /// </summary>
    private static async Task<HashSet<string>> ScrapeEbpfDaemonAsync()
    {
        using var bed = NetnsTestbed.Create("ufd", "10.217", downstreams: 1);
        using var config = new TempConfig($"""
            listeners:
              - name: tc
                bind: "{bed.ProxyAddress}:5514"
                mode: tc_ebpf
                interface: {bed.ProxyIngress}
                xdp: on
                downstream:
                  - {"{"} name: s0, address: "{bed.DownstreamAddress(0)}:6000" {"}"}
              - name: xdp
                bind: "{bed.ProxyAddress}:5515"
                mode: af_xdp
                interface: {bed.ProxyIngress}
                downstream:
                  - {"{"} name: s0, address: "{bed.DownstreamAddress(0)}:6001" {"}"}
            metrics: {"{"} enabled: true, bind: "127.0.0.1:9718" {"}"}
            """);
        using var daemon = new DaemonProcess(config.Path, bed.Proxy);
        daemon.WaitReady();
        var scrape = await MetricsScrape.FromAsync(bed.Proxy, 9718);
        return scrape.SeriesWith("").Select(series => series.Split('{')[0]).ToHashSet();
    }

    [GeneratedRegex(@"udp_fanout_[a-z0-9_]*[a-z0-9]")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"reason=""([a-z_]+)""")]
    private static partial Regex ReasonLabel();

    [GeneratedRegex(@"PASS_[A-Z_]+, ""([a-z_]+)""")]
    private static partial Regex TcPassedReason();
}
