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
}
