using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>The tc program attached for real: the shared data-path tests plus the tc attachment's lifecycle.</summary>
public sealed class TcEbpfForwarderTests() : KernelForwarderTests("uft", "10.201")
{
    private protected override ForwardingMode Mode => ForwardingMode.TcEbpf;

    protected override IPAddress ExpectedSource(int index) => Bed.ClientAddress;

    private protected override IListenerForwarder Create(ListenerConfig listener) => new TcEbpfForwarder(listener, NullLoggerFactory.Instance);

    private protected override long FragmentsPassed(ListenerStats stats) =>
        stats.ModeCounters.Single(c => c.Name == "tc_passed_to_stack_total" && c.Labels![0].Value == "fragment").Value;

    [Fact]
    public void Dispose_DetachesAndRemovesTheQdiscItCreated()
    {
        Start(Downstreams(0));
        Assert.Contains("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));

        Stop();

        Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        Assert.DoesNotContain("clsact", Bed.Proxy.Exec($"tc qdisc show dev {Bed.ProxyIngress}"));
    }

    [Fact]
    public void Start_AfterACrashLeftAProgramAttached_ReplacesItInsteadOfStacking()
    {
        Start(Downstreams(0));
        var second = Bed.Proxy.Invoke(() =>
        {
            var f = Create(Listener());
            f.StartAsync(new DownstreamSet(Downstreams(1)), CancellationToken.None).GetAwaiter().GetResult();
            return f;
        });

        var filters = Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress");
        Bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());

        Assert.Single(filters.Split('\n'), line => line.Contains("tc_fanout"));
    }

    [Fact]
    public void Run_ADownstreamOnAnAddressOfTheProxy_IsRefusedBeforeAttaching()
    {
        // The proxy's own address on the link to s0: bpf_fib_lookup answers "local" for it, and the program would
        // drop every datagram as no_route.
        var local = $"{Bed.Network}.11.1:6000";
        var config = Path.Combine(Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(config, DaemonConfig($"    downstream: [{{ name: proxy, address: \"{local}\" }}]"));
        try
        {
            using var daemon = new DaemonProcess(config, Bed.Proxy);

            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(10)), $"the daemon started:\n{daemon.Output}");
            Assert.Equal(1, daemon.ExitCode);
            Assert.Contains($"{config}:6:42: listeners[0].downstream[0].address: {local} is an address of this host: mode tc_ebpf routes each datagram with bpf_fib_lookup, which answers \"local\" for it, so every datagram would be dropped as no_route; use mode userspace or af_xdp to forward to a receiver on this host",
                daemon.Output);
            Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public void Run_APortThatAnotherDaemonHolds_IsRefusedBeforeAttaching()
    {
        // Another daemon (userspace, its own config file) already receives on the listener's port; the tc program
        // would take its traffic and the fallback socket would share the port with it.
        var directory = Directory.CreateTempSubdirectory("udp-fanout-").FullName;
        var other = Path.Combine(directory, "other.yaml");
        var config = Path.Combine(directory, "config.yaml");
        File.WriteAllText(other, $$"""
            listeners:
              - { name: other, bind: "0.0.0.0:{{ListenPort}}", downstream: [{ name: s0, address: "{{Bed.DownstreamAddress(0)}}:6000" }] }
            metrics: { enabled: false }
            """);
        File.WriteAllText(config, DaemonConfig($"    downstream: [{{ name: s1, address: \"{Bed.DownstreamAddress(1)}:6001\" }}]"));
        try
        {
            using var holder = new DaemonProcess(other, Bed.Proxy);
            holder.WaitReady();
            using var daemon = new DaemonProcess(config, Bed.Proxy);

            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(10)), $"the daemon started:\n{daemon.Output}");
            Assert.Equal(1, daemon.ExitCode);
            Assert.Contains($"udp-fanout: listener 'kernel': UDP port {ListenPort} is already in use by process {holder.Id} (udp-fanout) (bound to 0.0.0.0:{ListenPort}): two programs on one port would split its datagrams between them; stop the other program or give this listener another port in bind",
                daemon.Output);
            Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task UpdateDownstreams_MoreThanTheProgramHolds_TheFirst256GetEverything()
    {
        var forwarder = Start(Downstreams(0));
        // 300 downstreams, as a big service found by discovery could give: the three receivers first.
        var many = Downstreams(0, 1, 2)
            .Concat(Enumerable.Range(0, 297).Select(i => new Downstream($"pod-{i:D3}", new IPEndPoint(Bed.DownstreamAddress(i % 3), 7000 + i))))
            .ToArray();
        forwarder.UpdateDownstreams(new DownstreamSet(many));
        using var client = ClientSocket();

        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);
        for (var seq = 0; seq < 1024; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), target);
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 1024, "1024 datagrams at the program");

        var stats = forwarder.ReadStats();
        Assert.Equal(1024, stats.Forwarded);
        var perDownstream = stats.Downstreams.ToDictionary(d => d.Downstream, d => d.Packets);
        Assert.Equal(1024, many.Take(256).Sum(d => perDownstream.GetValueOrDefault(d)));
        Assert.All(many.Skip(256), d => Assert.Equal(0, perDownstream.GetValueOrDefault(d)));
    }
}
