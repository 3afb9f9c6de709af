using System.Net.Sockets;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Forwarding;
using UdpFanout.Health;
using UdpFanout.Hosting;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Health;

/// <summary>udp_echo health checks against real receivers, through a running userspace listener.</summary>
[Collection(KernelCollection.Name)]
public sealed class HealthCheckerTests : IAsyncLifetime
{
    /// <summary>udp_echo probes fast enough for a test: out after three failures 100 ms apart, back after two; HealthCheckerIpv6Tests and ListenerSupervisorTests probe with it too.</summary>
    internal static readonly HealthConfig Health = new()
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
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, FileDescriptorStores.None())]);
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
    public async Task Probe_SocketCannotOpen_ProbesCountAsFailedIsLoggedOnceAndTheLoopGoesOn()
    {
        var opener = new SocketOpener();
        var rotation = new DownstreamRotation(_ => { });
        rotation.SetConfigured([new DownstreamConfig("r0", _receivers[0].Endpoint)]);
        var logger = new RecordingLogger();
        await using var checker = new HealthChecker("health", Health, opener.Open, rotation, TimeProvider.System, logger);

        checker.Track(rotation.Configured);

        await Eventually.TrueAsync(() => !rotation.Health.Single().Up, "r0 to leave the rotation while no probe can run");
        var calls = opener.Calls;
        await Eventually.TrueAsync(() => opener.Calls >= calls + 3, "the probe loop to go on trying");
        var error = Assert.Single(logger.At(LogLevel.Error));
        Assert.Equal("listener health: cannot probe downstreams: Too many open files in system; each probe that cannot run counts as failed", error.Message);
        Assert.Equal("health", error.Values["Listener"]);
        Assert.True(checker.ProbeErrors >= 3, $"{checker.ProbeErrors} probe errors counted");

        opener.Broken = false;
        await Eventually.TrueAsync(() => rotation.Health.Single().Up, "r0 to return once probes run and succeed");
        Assert.Single(logger.At(LogLevel.Error));
        Assert.Contains("listener health: probes of downstreams run again", logger.Messages);
    }

    [Fact]
    public async Task Probe_TenThousandDownstreamsATenthSilentOrSpoofed_ExactlyThoseGoDownAndComeBack()
    {
        using var echo = new ManyAddressEcho();
        var downstreams = Enumerable.Range(0, 10_000)
            .Select(i => new DownstreamConfig($"d{i}", new IPEndPoint(new IPAddress([127, 1, (byte)(i / 250), (byte)(i % 250 + 1)]), echo.Port)))
            .ToArray();
        var index = downstreams.Select((d, i) => (d.Address.Address, i)).ToDictionary(p => p.Address, p => p.i);
        var dead = downstreams.Where((_, i) => i % 10 == 0).Select(d => d.Address).ToHashSet();
        // A tenth never answer for real: silent, or answered by a spoofer that has the token but not the source, or
        // the source but not the token. None of those replies may count.
        ManyAddressEcho.Answer[] wrongAnswers =
        [
            ManyAddressEcho.Answer.Silent, ManyAddressEcho.Answer.TokenFromOtherAddress,
            ManyAddressEcho.Answer.TokenFromOtherPort, ManyAddressEcho.Answer.WrongTokenFromRightAddress,
        ];
        echo.Behaviour = a => index[a] % 10 == 0 ? wrongAnswers[index[a] / 10 % wrongAnswers.Length] : ManyAddressEcho.Answer.Echo;
        var fewestLiveInRotation = int.MaxValue;
        var rotation = new DownstreamRotation(set =>
        {
            var live = set.Members.Count(m => !dead.Contains(m.Endpoint));
            fewestLiveInRotation = Math.Min(fewestLiveInRotation, live);
        });
        rotation.SetConfigured(downstreams);
        var logger = new RecordingLogger();
        var health = Health with { Interval = TimeSpan.FromSeconds(1), Timeout = TimeSpan.FromMilliseconds(800), UnhealthyThreshold = 2, HealthyThreshold = 2 };
        await using var checker = new HealthChecker("scale", health, UdpEchoSocket.Open, rotation, TimeProvider.System, logger);

        checker.Track(rotation.Configured);

        await Eventually.TrueAsync(() => Down(rotation).SetEquals(dead), "exactly the tenth to leave the rotation", 30);
        await Task.Delay(health.Interval * 2);
        Assert.True(Down(rotation).SetEquals(dead), "a spoofed reply brought one back");
        echo.Behaviour = _ => ManyAddressEcho.Answer.Echo;
        await Eventually.TrueAsync(() => Down(rotation).Count == 0, "every one to return", 30);

        Assert.Equal(9_000, fewestLiveInRotation);
        Assert.Equal(0, checker.ProbeErrors);
        // Changes are logged as summaries, at most one line per second and direction: never a line per downstream.
        var downLines = logger.Messages.Where(m => m.Contains("down after 2 failed probes")).ToArray();
        Assert.InRange(downLines.Length, 1, 10);
        Assert.Equal(1_000, downLines.Sum(CountIn));
        await Eventually.TrueAsync(() => logger.Messages.Where(m => m.Contains("up again after 2 good probes")).Sum(CountIn) == 1_000, "every return logged within the log window");
    }

    [Fact]
    public async Task Probe_IcmpEchoToAThousandAddressesATenthFiltered_ExactlyThoseGoDownAndComeBack()
    {
        using var ns = new NetworkNamespace($"ufa-hicmp-{Environment.ProcessId % 10000:x}");
        var downstreams = Enumerable.Range(0, 1_000)
            .Select(i => new DownstreamConfig($"d{i}", new IPEndPoint(new IPAddress([127, 2, (byte)(i / 250), (byte)(i % 250 + 1)]), 9)))
            .ToArray();
        var dead = downstreams.Where((_, i) => i % 10 == 0).Select(d => d.Address).ToHashSet();
        var rules = Path.Combine(Path.GetTempPath(), $"ufa-hicmp-{Guid.NewGuid():N}.nft");
        File.WriteAllText(rules, $$"""
            table ip probes {
              chain input {
                type filter hook input priority 0;
                icmp type echo-request ip daddr { {{string.Join(", ", dead.Select(d => d.Address))}} } drop
              }
            }
            """);
        try
        {
            ns.Exec($"nft -f {rules}");
        }
        finally
        {
            File.Delete(rules);
        }
        var rotation = new DownstreamRotation(_ => { });
        rotation.SetConfigured(downstreams);
        var health = Health with { Protocol = HealthProtocol.Icmp, Interval = TimeSpan.FromMilliseconds(500), Timeout = TimeSpan.FromMilliseconds(300), UnhealthyThreshold = 2, HealthyThreshold = 2 };
        // Created inside the namespace, so the checker's socket lives there.
        await using var checker = ns.Invoke(() => new HealthChecker("icmp", health, IcmpEchoSocket.Open, rotation, TimeProvider.System, NullLogger.Instance));

        checker.Track(rotation.Configured);

        await Eventually.TrueAsync(() => Down(rotation).SetEquals(dead), "exactly the filtered tenth to leave the rotation", 30);
        ns.Exec("nft flush ruleset");
        await Eventually.TrueAsync(() => Down(rotation).Count == 0, "every one to return", 30);
        Assert.Equal(0, checker.ProbeErrors);
    }

    /// <summary>Opens probe sockets as a process that has run out of file descriptors would, until it is mended.</summary>
    private sealed class SocketOpener
    {
        private int _calls;

        public volatile bool Broken = true;

        public int Calls => Volatile.Read(ref _calls);

        public ProbeSocket Open()
        {
            Interlocked.Increment(ref _calls);
            return Broken ? throw new SocketException((int)SocketError.TooManyOpenSockets) : UdpEchoSocket.Open();
        }
    }

    private static HashSet<IPEndPoint> Down(DownstreamRotation rotation) =>
        rotation.Health.Where(h => !h.Up).Select(h => h.Downstream.Endpoint).ToHashSet();

    /// <summary>How many downstreams a verdict line names: "N downstreams are ..." or one.</summary>
    private static int CountIn(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @": (\d+) downstreams are");
        return match.Success ? int.Parse(match.Groups[1].Value) : 1;
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
