using System.Net;
using UdpFanout.Tests.Testing;
using Pod = UdpFanout.Tests.Testing.EndpointSliceJson.Pod;

namespace UdpFanout.Tests.Discovery;

/// <summary>The daemon with a <c>kubernetes:</c> listener, its downstreams coming and going by watch events while traffic flows.</summary>
[Collection(KernelCollection.Name)]
public sealed class DiscoveryDaemonTests : IDisposable
{
    private readonly FakeKubernetesApi _api = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("udp-fanout-k8s-").FullName;
    private readonly IPEndPoint _bind = LoopbackPorts.FreeUdp();
    private readonly int _metricsPort = LoopbackPorts.FreeTcp();
    private readonly int _podPort = LoopbackPorts.FreeUdp().Port;
    private readonly CountingReceiver[] _pods;

    public DiscoveryDaemonTests()
    {
        // Pods are loopback addresses of their own, all receiving on the same port, as pods of a service do.
        _pods = [.. Enumerable.Range(0, 3).Select(i => new CountingReceiver(IPAddress.Parse($"127.0.0.{11 + i}"), _podPort))];
    }

    public void Dispose()
    {
        _api.Dispose();
        foreach (var pod in _pods)
        {
            pod.Dispose();
        }
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Run_PodsJoinAndLeaveWhileTrafficFlows_NoDatagramLostAndALeftPodGetsNothing()
    {
        _api.Apply(Slice(new Pod("vector-0", "127.0.0.11"), new Pod("vector-1", "127.0.0.12")));
        var config = WriteConfig();
        using var daemon = new DaemonProcess(config);
        daemon.WaitReady();
        Assert.Equal(1, (await Scrape()).Sum("udp_fanout_kubernetes_api_up"));
        Assert.Equal(2, (await Scrape()).Sum("udp_fanout_kubernetes_endpoints"));
        using var client = new PacedSender(_bind, () => (long)Scrape().Result.Sum("udp_fanout_packets_received_total"));

        await client.SendAsync(20_000, seq => 64 + (int)(seq % 300), burst: 2000);
        _api.Apply(Slice(new Pod("vector-0", "127.0.0.11"), new Pod("vector-1", "127.0.0.12"), new Pod("vector-2", "127.0.0.13")));
        var joining = client.SendAsync(20_000, seq => 64 + (int)(seq % 300), burst: 1000);
        await Eventually.TrueAsync(() => Scrape().Result.Sum("udp_fanout_kubernetes_endpoints") == 3, "the third pod in the rotation", timeoutSeconds: 5);
        await joining;

        _api.Apply(Slice(new Pod("vector-0", "127.0.0.11", Ready: false, Terminating: true), new Pod("vector-1", "127.0.0.12"), new Pod("vector-2", "127.0.0.13")));
        var leaving = client.SendAsync(20_000, seq => 64 + (int)(seq % 300), burst: 1000);
        await Eventually.TrueAsync(() => Scrape().Result.Sum("udp_fanout_kubernetes_endpoints") == 2, "the terminating pod out of the rotation", timeoutSeconds: 5);
        await leaving;
        await Eventually.TrueAsync(() => _pods.Sum(p => p.Count) >= 60_000, "every datagram at a pod");
        var leftPod = _pods[0].Count;

        await client.SendAsync(20_000, seq => 64 + (int)(seq % 300), burst: 2000);
        await Eventually.TrueAsync(() => _pods.Sum(p => p.Count) >= 80_000, "the last datagrams at a pod");

        var metrics = await Scrape();
        Assert.Equal(80_000, metrics.Sum("udp_fanout_packets_forwarded_total"));
        Assert.Equal(0, metrics.Sum("udp_fanout_packets_dropped_total"));
        Assert.Equal(Enumerable.Range(0, 80_000).Select(i => (long)i), _pods.SelectMany(p => p.Sequences).Order());
        Assert.Equal(leftPod, _pods[0].Count);
        Assert.InRange(_pods[2].Count, 10_000, 30_000);
        Assert.Contains("service logging/vector has 3 ready endpoints", daemon.Output);
    }

    [Fact]
    public async Task Run_ApiUnreachableAtStart_StartsAndPicksThePodsUpWhenItAnswers()
    {
        _api.Apply(Slice(new Pod("vector-0", "127.0.0.11")));
        var config = WriteConfig();
        _api.Stop();
        using var daemon = new DaemonProcess(config);
        daemon.WaitReady();
        Assert.Equal(0, (await Scrape()).Sum("udp_fanout_kubernetes_api_up"));
        Assert.Contains("the Kubernetes API is unreachable for logging/vector", daemon.Output);

        _api.Start();
        await Eventually.TrueAsync(() => Scrape().Result.Sum("udp_fanout_kubernetes_endpoints") == 1, "the pod once the API answers (the daemon retries 1, 2, 4, 8 s apart)", timeoutSeconds: 20);
        using var client = new PacedSender(_bind, () => (long)Scrape().Result.Sum("udp_fanout_packets_received_total"));
        await client.SendAsync(1000, _ => 100);
        await Eventually.TrueAsync(() => _pods[0].Count == 1000, "the datagrams at the pod");
    }

    [Fact]
    public async Task Reload_AnotherServiceThenStaticOnly_DiscoveryFollowsTheConfig()
    {
        _api.Apply(Slice(new Pod("vector-0", "127.0.0.11")));
        _api.Apply(EndpointSliceJson.Slice("fluentd-abcde", "fluentd", [new Pod("fluentd-0", "127.0.0.12")]));
        var config = WriteConfig();
        using var daemon = new DaemonProcess(config);
        daemon.WaitReady();
        using var client = new PacedSender(_bind, () => (long)Scrape().Result.Sum("udp_fanout_packets_received_total"));
        await client.SendAsync(100, _ => 100);
        await Eventually.TrueAsync(() => _pods[0].Count == 100, "the datagrams at vector-0");

        File.WriteAllText(config, File.ReadAllText(config).Replace("service: vector", "service: fluentd"));
        daemon.Signal(DaemonProcess.SIGHUP);
        await Eventually.TrueAsync(() => daemon.Output.Contains("downstreams now fluentd-0"), "the other service's pod in the rotation");
        await client.SendAsync(100, _ => 100);
        await Eventually.TrueAsync(() => _pods[1].Count == 100, "the datagrams at fluentd-0");

        // Without the kubernetes section the discovered pods leave; the static downstream stays.
        var text = File.ReadAllText(config);
        var kubernetes = text[text.IndexOf("    kubernetes:", StringComparison.Ordinal)..text.IndexOf("metrics:", StringComparison.Ordinal)];
        File.WriteAllText(config, text.Replace(kubernetes, $"    downstream: [{{ name: archive, address: \"127.0.0.13:{_podPort}\" }}]\n"));
        daemon.Signal(DaemonProcess.SIGHUP);
        await Eventually.TrueAsync(() => Scrape().Result.Sum("udp_fanout_kubernetes_api_up", "listener=\"syslog\"") == 0 && daemon.Output.Contains("downstreams now archive"), "static only");
        await client.SendAsync(100, _ => 100);
        await Eventually.TrueAsync(() => _pods[2].Count == 100, "the datagrams at the static downstream");
        Assert.Equal((100, 100), (_pods[0].Count, _pods[1].Count));
    }

    private static System.Text.Json.Nodes.JsonObject Slice(params Pod[] pods) =>
        EndpointSliceJson.Slice("vector-abcde", "vector", pods);

    private Task<MetricsScrape> Scrape() => MetricsScrape.FromAsync(_metricsPort);

    private string WriteConfig()
    {
        var path = Path.Combine(_directory, "config.yaml");
        File.WriteAllText(path, $"""
            listeners:
              - name: syslog
                bind: "{_bind}"
                kubernetes:
                  namespace: logging
                  service: vector
                  port: {_podPort}
                  kubeconfig: {_api.WriteKubeconfig(_directory)}
            metrics:
              enabled: true
              bind: "127.0.0.1:{_metricsPort}"
            """);
        return path;
    }
}
