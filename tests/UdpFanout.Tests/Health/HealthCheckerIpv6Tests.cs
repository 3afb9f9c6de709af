using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Health;
using UdpFanout.Hosting;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Health;

/// <summary>
/// udp_echo and ICMPv6 echo health checks of IPv6 downstreams (beside IPv4 ones) through a dual-stack testbed: the
/// checker in the proxy's namespace, each downstream in its own, probes and replies over real links.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class HealthCheckerIpv6Tests : IAsyncLifetime
{
    private static readonly HealthConfig Health = HealthCheckerTests.Health;

    private readonly NetnsTestbed _bed = NetnsTestbed.Create("u6c", "10.190", downstreams: 3, ipv6: "fd90");
    private readonly List<EchoingReceiver> _receivers = [];
    private ListenerRuntime? _runtime;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }
        _receivers.ForEach(r => r.Dispose());
        _bed.Dispose();
    }

    /// <summary>Two IPv6 downstreams and an IPv4 one behind a dual-stack listener; one IPv6 one stops echoing, then starts again.</summary>
    [Fact]
    public async Task UdpEcho_Ipv6ReceiverStopsAnswering_LeavesAfterThreeFailuresGetsNothingThenReturns()
    {
        var log = new RecordingLogger();
        await StartAsync(Health, [true, true, false], log);
        using var client = _bed.Client.Invoke(() => new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp));
        var sent = 0L;
        async Task SendAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                client.SendTo(NumberedPayload.Create(sent++, 64), new IPEndPoint(_bed.ProxyAddress6, 5514));
            }
            var expected = sent;
            await Eventually.TrueAsync(() => _runtime!.ReadStats().Received == expected, $"{expected} datagrams received");
        }
        await Eventually.TrueAsync(() => _runtime!.Rotation.Health.All(h => h.Up), "every downstream up");
        await SendAsync(90);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Sequences.Count) == 90, "traffic to the three");

        _receivers[1].Answering = false;
        var stopped = DateTime.UtcNow;
        await Eventually.TrueAsync(() => !IsUp("s1"), "s1 to leave the rotation");
        var tookOut = DateTime.UtcNow - stopped;
        var sentWhenDown = sent;
        await SendAsync(100);
        await Eventually.TrueAsync(() => _receivers[0].Sequences.Count + _receivers[2].Sequences.Count == 160, "the new traffic at s0 and s2");

        Assert.True(tookOut >= Health.Interval * (Health.UnhealthyThreshold - 1), $"down after {tookOut.TotalMilliseconds} ms: fewer than three failed probes");
        Assert.True(tookOut < Health.Interval * (Health.UnhealthyThreshold + 2), $"took {tookOut.TotalMilliseconds} ms");
        Assert.DoesNotContain(_receivers[1].Sequences, seq => seq >= sentWhenDown);
        Assert.True(IsUp("s0") && IsUp("s2"));
        // Logged with the address in brackets, as the config writes it.
        var down = Assert.Single(log.At(Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.Equal("listener health6: downstream s1 ([fd90:12::2]:6000) is down after 3 failed probes; out of the rotation", down.Message);
        Assert.Equal("[fd90:12::2]:6000", down.Values["Address"]);

        _receivers[1].Answering = true;
        await Eventually.TrueAsync(() => IsUp("s1"), "s1 to return");
        await SendAsync(90);
        await Eventually.TrueAsync(() => _receivers[1].Sequences.Any(seq => seq >= sentWhenDown), "s1 to get traffic again");
        var stats = _runtime!.ReadStats();
        Assert.Equal((280L, 280L), (stats.Received, stats.Forwarded));
    }

    /// <summary>ICMPv6 echo: a downstream whose host drops echo requests goes down; once it answers again it comes back.</summary>
    [Fact]
    public async Task IcmpEcho_Ipv6HostStopsAnsweringPings_LeavesAfterThreeFailuresThenReturns()
    {
        await StartAsync(Health with { Protocol = HealthProtocol.Icmp }, [true, true, false]);
        await Eventually.TrueAsync(() => _runtime!.Rotation.Health.All(h => h.Up), "every downstream up");

        _bed.Downstreams[1].Exec("nft add table ip6 probes");
        _bed.Downstreams[1].Exec("nft add chain ip6 probes input { type filter hook input priority 0 \\; }");
        _bed.Downstreams[1].Exec("nft add rule ip6 probes input icmpv6 type echo-request drop");
        var stopped = DateTime.UtcNow;
        await Eventually.TrueAsync(() => !IsUp("s1"), "s1 to leave the rotation");
        var tookOut = DateTime.UtcNow - stopped;
        Assert.True(tookOut >= Health.Interval * (Health.UnhealthyThreshold - 1), $"down after {tookOut.TotalMilliseconds} ms: fewer than three failed probes");
        await Task.Delay(Health.Interval * 5);
        Assert.True(IsUp("s0") && IsUp("s2"), "the hosts still answering stayed up");

        _bed.Downstreams[1].Exec("nft flush ruleset");
        await Eventually.TrueAsync(() => IsUp("s1"), "s1 to return");
    }

    private bool IsUp(string name) => _runtime!.Rotation.Health.Single(h => h.Downstream.Name == name).Up;

    /// <summary>A dual-stack userspace listener on [::]:5514 in the proxy, an echoing receiver per downstream on the family given.</summary>
    private Task StartAsync(HealthConfig health, bool[] ipv6, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var downstreams = new List<DownstreamConfig>();
        for (var i = 0; i < ipv6.Length; i++)
        {
            var address = ipv6[i] ? _bed.DownstreamAddress6(i) : _bed.DownstreamAddress(i);
            var receiver = _bed.Downstreams[i].Invoke(() => new EchoingReceiver(address, 6000));
            _receivers.Add(receiver);
            downstreams.Add(new DownstreamConfig($"s{i}", receiver.Endpoint));
        }
        var listener = new ListenerConfig { Name = "health6", Bind = new IPEndPoint(IPAddress.IPv6Any, 5514), Downstreams = new(downstreams) };
        var registry = new ForwarderRegistry([new UserspaceForwarderFactory(NullLoggerFactory.Instance, FileDescriptorStores.None())]);
        // Started on a thread inside the proxy's namespace, to the end, so every socket it opens lives there.
        _runtime = _bed.Proxy.Invoke(() => ListenerRuntime.StartAsync(listener, health, registry, TimeProvider.System, logger ?? NullLogger.Instance, CancellationToken.None).GetAwaiter().GetResult());
        return Task.CompletedTask;
    }
}
