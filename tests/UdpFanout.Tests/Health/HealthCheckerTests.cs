using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Health;
using UdpFanout.Hosting;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Health;

/// <summary>udp_echo health checks against real receivers, through a running userspace listener.</summary>
[Collection(KernelCollection.Name)]
public sealed class HealthCheckerTests : IAsyncLifetime
{
    private static readonly HealthConfig Health = new()
    {
        Enabled = true,
        Protocol = HealthProtocol.UdpEcho,
        Interval = TimeSpan.FromMilliseconds(100),
        Timeout = TimeSpan.FromMilliseconds(50),
        UnhealthyThreshold = 3,
        HealthyThreshold = 2,
    };

    private readonly EchoingReceiver[] _receivers = [new(), new()];
    private readonly IPEndPoint _bind = LoopbackPorts.FreeUdp();
    private readonly Socket _client = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private ListenerRuntime? _runtime;
    private long _sent;

    public async Task InitializeAsync()
    {
        var listener = new ListenerConfig
        {
            Name = "health",
            Bind = _bind,
            Downstreams = new(_receivers.Select((r, i) => new DownstreamConfig($"r{i}", r.Endpoint))),
        };
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, new FileDescriptorStore(null, [], NullLogger.Instance))]);
        _runtime = await ListenerRuntime.StartAsync(listener, Health, registry, TimeProvider.System, NullLogger.Instance, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }
        _client.Dispose();
        foreach (var r in _receivers)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task Probe_ReceiverStopsAnswering_LeavesWithinThresholdIntervalsGetsNothingThenReturns()
    {
        await SendAsync(100);
        await Eventually.TrueAsync(() => _receivers[1].Sequences.Count == 50, "traffic to both receivers");

        _receivers[1].Answering = false;
        var stopped = DateTime.UtcNow;
        await Eventually.TrueAsync(() => !IsUp("r1"), "r1 to leave the rotation");
        var tookOut = DateTime.UtcNow - stopped;
        var sentWhenDown = _sent;
        await SendAsync(100);
        await Eventually.TrueAsync(() => _receivers[0].Sequences.Count == 150, "all traffic to r0");

        Assert.True(tookOut < Health.Interval * (Health.UnhealthyThreshold + 2), $"took {tookOut.TotalMilliseconds} ms");
        Assert.DoesNotContain(_receivers[1].Sequences, seq => seq >= sentWhenDown);

        _receivers[1].Answering = true;
        await Eventually.TrueAsync(() => IsUp("r1"), "r1 to return");
        await SendAsync(100);
        await Eventually.TrueAsync(() => _receivers[1].Sequences.Count == 100, "r1 to get traffic again");

        // Probes come from the checker's own sockets, never through the listener.
        var stats = _runtime!.ReadStats();
        Assert.Equal(300, stats.Received);
        Assert.Equal(300, stats.Forwarded);
    }

    [Fact]
    public async Task Probe_NoReceiverAnswers_DropsWithNoHealthyDownstream()
    {
        foreach (var r in _receivers)
        {
            r.Answering = false;
        }
        await Eventually.TrueAsync(() => !IsUp("r0") && !IsUp("r1"), "both to leave the rotation");

        await SendAsync(10);

        await Eventually.TrueAsync(() => _runtime!.ReadStats().Dropped[(int)DropReason.NoHealthyDownstream] == 10, "drops counted as no_healthy_downstream");
    }

    [Fact]
    public async Task Probe_CannotEvenRun_CountsAsFailedIsLoggedOnceAndTheLoopGoesOn()
    {
        var probe = new ProbeWithoutSockets();
        var rotation = new DownstreamRotation(_ => { });
        rotation.SetConfigured([new DownstreamConfig("r0", _receivers[0].Endpoint)]);
        var logger = new RecordingLogger();
        await using var checker = new HealthChecker("health", Health, probe, rotation, TimeProvider.System, logger);

        checker.Track(rotation.Configured);

        await Eventually.TrueAsync(() => !rotation.Health.Single().Up, "r0 to leave the rotation while no probe can run");
        var calls = probe.Calls;
        await Eventually.TrueAsync(() => probe.Calls >= calls + 3, "the probe loop to go on");
        var error = Assert.Single(logger.At(LogLevel.Error));
        Assert.Equal($"listener health: cannot probe downstream r0 ({_receivers[0].Endpoint}): Too many open files in system; each probe that cannot run counts as failed", error.Message);
        Assert.Equal(("health", "r0"), (error.Values["Listener"], error.Values["Downstream"]));
        Assert.True(checker.ProbeErrors >= 3, $"{checker.ProbeErrors} probe errors counted");

        probe.Broken = false;
        await Eventually.TrueAsync(() => rotation.Health.Single().Up, "r0 to return once probes run and succeed");
        Assert.Single(logger.At(LogLevel.Error));
    }

    /// <summary>A probe in a process that has run out of file descriptors, until it is mended.</summary>
    private sealed class ProbeWithoutSockets : IHealthProbe
    {
        private int _calls;

        public volatile bool Broken = true;

        public int Calls => Volatile.Read(ref _calls);

        public Task<bool> ProbeAsync(IPEndPoint target, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Broken ? throw new SocketException((int)SocketError.TooManyOpenSockets) : Task.FromResult(true);
        }
    }

    private bool IsUp(string name) => _runtime!.Rotation.Health.Single(h => h.Downstream.Name == name).Up;

    private async Task SendAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            _client.SendTo(NumberedPayload.Create(_sent++, 64), _bind);
        }
        var expected = _sent;
        await Eventually.TrueAsync(() => _runtime!.ReadStats().Received == expected, $"{expected} datagrams received");
    }
}
