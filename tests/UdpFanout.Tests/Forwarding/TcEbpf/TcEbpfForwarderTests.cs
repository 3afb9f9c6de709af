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
    public async Task Forward_NextHopThatNeverAnswers_CountsAsForwardedAndAsUnresolved()
    {
        // On downstream 0's network, where no host has the address: ARP for it goes unanswered.
        var absent = new Downstream("absent", new IPEndPoint(IPAddress.Parse($"{Bed.Network}.11.99"), 6000));
        var forwarder = Start([absent]);
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

        await client.SendAsync(5, _ => 64, burst: 1);

        var stats = forwarder.ReadStats();
        Assert.Equal((5L, 5L), (stats.Received, stats.Forwarded));
        Assert.Equal(5, stats.ModeCounters.Single(c => c.Name == "tc_forwarded_neighbour_unresolved_total").Value);
        var neighbour = Bed.Proxy.Exec($"ip neigh show {Bed.Network}.11.99");
        Assert.True(neighbour.Contains("INCOMPLETE") || neighbour.Contains("FAILED"), $"the next hop resolved: {neighbour}");
    }

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
