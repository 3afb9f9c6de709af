using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Hosting;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Hosting;

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
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance)]);

        await using var runtime = await ListenerRuntime.StartAsync(listener, new HealthConfig(), registry, TimeProvider.System, logger, CancellationToken.None);

        Assert.Contains($"listener flows started: mode userspace, bind {listener.Bind}, balance source_hash by source_ip_port, downstreams a (127.0.0.1:7001)", logger.Messages);
        Assert.Equal(["a", "b"], runtime.Rotation.Health.Select(h => h.Downstream.Name));
    }
}
