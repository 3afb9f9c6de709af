using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Hosting;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Hosting;

[Collection(KernelCollection.Name)]
public sealed class ListenerRuntimeTests
{
    [Fact]
    public async Task StartAsync_SourceHashWithADrainedDownstream_LogsThePolicyAndLeavesTheDrainedOneOut()
    {
        var logger = new RecordingLogger();
        var listener = new ListenerConfig
        {
            Name = "flows",
            Bind = LoopbackPorts.FreeUdp(),
            Balance = BalancePolicy.SourceHash,
            HashKey = HashKey.SourceIpPort,
            Downstreams = new([new DownstreamConfig("a", IPEndPoint.Parse("127.0.0.1:7001")), new DownstreamConfig("b", IPEndPoint.Parse("127.0.0.1:7002"), Weight: 0)]),
        };
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, FileDescriptorStores.None())]);

        await using var runtime = await ListenerRuntime.StartAsync(listener, new HealthConfig(), registry, TimeProvider.System, logger, CancellationToken.None);

        Assert.Contains($"listener flows started: mode userspace, bind {listener.Bind}, balance source_hash by source_ip_port, downstreams a (127.0.0.1:7001) (1 in the rotation)", logger.Messages);
        Assert.Equal(["a", "b"], runtime.Rotation.Health.Select(h => h.Downstream.Name));
    }

    [Fact]
    public async Task StartAndReload_AThousandDownstreams_EachLogsOneSummaryLineNotTheList()
    {
        var logger = new RecordingLogger();
        var config = Listener(Enumerable.Range(0, 1_000));
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, FileDescriptorStores.None())]);
        await using var runtime = await ListenerRuntime.StartAsync(config, new HealthConfig(), registry, TimeProvider.System, logger, CancellationToken.None);

        // 400 leave, 400 join, 600 stay.
        await runtime.ApplyInPlaceAsync(Listener(Enumerable.Range(400, 1_000)));

        var started = Assert.Single(logger.Messages, m => m.Contains("started"));
        Assert.Equal($"listener scale started: mode userspace, bind {config.Bind}, balance round_robin, downstreams {Names(0, 5)} and 995 more (1000 in the rotation)", started);
        var changed = Assert.Single(logger.Messages, m => m.Contains("downstreams now"));
        Assert.Equal(
            $"listener scale downstreams now {Names(400, 5)} and 995 more (1000 in the rotation; joined 400: {Names(1_000, 5)} and 395 more; left 400: {Names(0, 5)} and 395 more)",
            changed);
    }

    [Fact]
    public async Task Reload_OneDownstreamLeaves_TheLineNamesItAndNothingJoined()
    {
        var logger = new RecordingLogger();
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, FileDescriptorStores.None())]);
        await using var runtime = await ListenerRuntime.StartAsync(Listener(Enumerable.Range(0, 2)), new HealthConfig(), registry, TimeProvider.System, logger, CancellationToken.None);

        await runtime.ApplyInPlaceAsync(Listener(Enumerable.Range(1, 1)));

        Assert.Equal(
            $"listener scale downstreams now {Names(1, 1)} (1 in the rotation; joined none; left 1: {Names(0, 1)})",
            Assert.Single(logger.Messages, m => m.Contains("downstreams now")));
    }

    private static readonly IPEndPoint Bind = LoopbackPorts.FreeUdp();

    private static ListenerConfig Listener(IEnumerable<int> downstreams) => new()
    {
        Name = "scale",
        Bind = Bind,
        Downstreams = new(downstreams.Select(i => new DownstreamConfig($"d{i}", Address(i)))),
    };

    private static IPEndPoint Address(int i) => new(new IPAddress([127, 3, (byte)(i / 250), (byte)(i % 250 + 1)]), 9);

    private static string Names(int first, int count) =>
        string.Join(", ", Enumerable.Range(first, count).Select(i => $"d{i} ({Address(i)})"));
}
