using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Hosting;
using UdpFanout.Metrics;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;
using Pod = UdpFanout.Tests.Testing.EndpointSliceJson.Pod;

namespace UdpFanout.Tests.Hosting;

/// <summary>
/// The daemon's listeners across a restart under systemd, with the test playing systemd: one supervisor (the
/// process) stops, the next starts from what was stored in the file descriptor store, as LISTEN_FDS hands it over.
/// What health checks and discovery found carries over, and outside systemd nothing does.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class ListenerSupervisorTests : IDisposable
{
    private static readonly HealthConfig Health = Tests.Health.HealthCheckerTests.Health;

    private readonly NotifySocket _systemd = new();
    private readonly EchoingReceiver[] _receivers = [new(), new()];
    private readonly IPEndPoint _bind = LoopbackPorts.FreeUdp();
    private readonly Socket _client = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private long _sent;

    public void Dispose()
    {
        _client.Dispose();
        foreach (var receiver in _receivers)
        {
            receiver.Dispose();
        }
        _systemd.Dispose();
    }

    [Fact]
    public async Task Restart_UnderSystemd_ADownstreamHealthChecksTookOutStaysOutUntilProbesBringItBack()
    {
        var config = Config();
        var first = Supervisor(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance));
        await first.ApplyAsync(config, CancellationToken.None);
        _receivers[1].Answering = false;
        await Eventually.TrueAsync(() => !IsUp(first, "r1"), "r1 to leave the rotation");
        await first.DisposeAsync();

        var log = new RecordingLogger();
        await using var second = Supervisor(FileDescriptorStores.NextProcess(_systemd), log);
        await second.ApplyAsync(config, CancellationToken.None);

        // From the first set on, not once probes have found out again: r1 gets nothing.
        Assert.Equal(["r0"], second.Running.Single().Rotation.Current.Members.Select(d => d.Name));
        Assert.Contains($"listener test starts from the state kept across the restart: 0 discovered endpoints until the first list, 1 downstreams out until their probes succeed: r1 ({_receivers[1].Endpoint})", log.Messages);
        var before = _receivers[1].Sequences.Count;
        await SendAsync(100);
        await Eventually.TrueAsync(() => _receivers[0].Sequences.Count(s => s >= _sent - 100) == 100, "the datagrams at r0");
        // Probes that keep failing leave it out; it does not count as up until they succeed.
        await Task.Delay(Health.Interval * (Health.UnhealthyThreshold + 2));
        Assert.False(IsUp(second, "r1"));
        Assert.Equal(before, _receivers[1].Sequences.Count);

        _receivers[1].Answering = true;
        await Eventually.TrueAsync(() => IsUp(second, "r1"), "r1 to return once its probes succeed");
        await SendAsync(100);
        await Eventually.TrueAsync(() => _receivers[1].Sequences.Count == before + 50, "r1 to get its share again");
    }

    [Fact]
    public async Task Restart_OutsideSystemd_StartsWithEveryDownstreamUp()
    {
        var config = Config();
        var first = Supervisor(FileDescriptorStores.None());
        await first.ApplyAsync(config, CancellationToken.None);
        _receivers[1].Answering = false;
        await Eventually.TrueAsync(() => !IsUp(first, "r1"), "r1 to leave the rotation");
        await first.DisposeAsync();

        await using var second = Supervisor(FileDescriptorStores.None());
        await second.ApplyAsync(config, CancellationToken.None);

        Assert.Equal(["r0", "r1"], second.Running.Single().Rotation.Current.Members.Select(d => d.Name));
    }

    [Fact]
    public async Task Restart_UnderSystemdWhileTheApiServerIsAway_TheDiscoveredEndpointsServeUntilTheFirstList()
    {
        using var api = new FakeKubernetesApi();
        var directory = Directory.CreateTempSubdirectory("udp-fanout-state-").FullName;
        var podPort = LoopbackPorts.FreeUdp().Port;
        using var pod0 = new CountingReceiver(IPAddress.Parse("127.0.0.31"), podPort);
        using var pod1 = new CountingReceiver(IPAddress.Parse("127.0.0.32"), podPort);
        try
        {
            api.Apply(EndpointSliceJson.Slice("vector-abcde", "vector", [new Pod("vector-0", "127.0.0.31"), new Pod("vector-1", "127.0.0.32")], port: podPort));
            var listener = new ListenerConfig
            {
                Name = "test",
                Bind = _bind,
                Kubernetes = new KubernetesDiscoveryConfig { Namespace = "logging", Service = "vector", PortName = "syslog", Kubeconfig = api.WriteKubeconfig(directory) },
            };
            var config = new FanoutConfig { Listeners = new([listener]) };
            var first = Supervisor(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance));
            await first.ApplyAsync(config, CancellationToken.None);
            Assert.Equal(2, first.Running.Single().Rotation.Current.Members.Count);
            await first.DisposeAsync();
            api.Stop();

            var log = new RecordingLogger();
            await using var second = Supervisor(FileDescriptorStores.NextProcess(_systemd), log);
            await second.ApplyAsync(config, CancellationToken.None);

            Assert.Equal(["vector-0", "vector-1"], second.Running.Single().Rotation.Current.Members.Select(d => d.Name));
            Assert.Contains("listener test starts from the state kept across the restart: 2 discovered endpoints until the first list, 0 downstreams out until their probes succeed", log.Messages);
            await SendAsync(100);
            await Eventually.TrueAsync(() => pod0.Count == 50 && pod1.Count == 50, "the datagrams at the pods found before the restart");

            // The first list replaces them.
            api.Apply(EndpointSliceJson.Slice("vector-abcde", "vector", [new Pod("vector-0", "127.0.0.31")], port: podPort));
            api.Start();
            await Eventually.TrueAsync(() => second.Running.Single().Rotation.Current.Members.Count == 1, "the first list to replace the restored endpoints", timeoutSeconds: 40);
            Assert.Equal("vector-0", second.Running.Single().Rotation.Current.Members.Single().Name);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private FanoutConfig Config() => new()
    {
        Listeners = new([new ListenerConfig
        {
            Name = "test",
            Bind = _bind,
            Downstreams = new(_receivers.Select((r, i) => new DownstreamConfig($"r{i}", r.Endpoint))),
        }]),
        Health = Health,
    };

    private static ListenerSupervisor Supervisor(FileDescriptorStore store, RecordingLogger? log = null) => new(
        new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, store)]),
        new ListenerSelection(null),
        new RetiredStats(),
        store,
        TimeProvider.System,
        log is null ? NullLogger<ListenerSupervisor>.Instance : new LoggerFactory([new RecordingLoggerProvider(log)]).CreateLogger<ListenerSupervisor>());

    private static bool IsUp(ListenerSupervisor supervisor, string downstream) =>
        supervisor.Running.Single().Rotation.Health.Single(h => h.Downstream.Name == downstream).Up;

    private async Task SendAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            _client.SendTo(NumberedPayload.Create(_sent++, 64), _bind);
            if (i % 50 == 49)
            {
                await Task.Delay(5);
            }
        }
    }
}
