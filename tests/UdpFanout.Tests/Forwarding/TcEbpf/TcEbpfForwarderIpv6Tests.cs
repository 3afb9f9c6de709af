using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The tc program attached for real on a dual-stack testbed: the shared IPv6 data-path tests, then what only a
/// router in the kernel does: the hop limit, each family to its own downstreams, the other family's through the
/// fallback.
/// </summary>
public sealed class TcEbpfForwarderIpv6Tests() : KernelForwarderIpv6Tests("u6bt")
{
    private protected override ForwardingMode Mode => ForwardingMode.TcEbpf;

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new TcEbpfForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None());

    private protected override long PassedToStack(ListenerStats stats, string reason) =>
        stats.ModeCounters.Single(c => c.Name == "tc_passed_to_stack_total" && c.Labels![0].Value == reason).Value;

    [Fact]
    public void Forward_HopLimit_ArrivesDecrementedByOne()
    {
        using var receiver = Bed.Downstreams[0].Invoke(() => new HopLimitReceiver(6500));
        var forwarder = Start([new Downstream("s0", new IPEndPoint(Bed.DownstreamAddress6(0), 6500))]);
        using var client = ClientSocket();
        // IPV6_UNICAST_HOPS (16 at level IPPROTO_IPV6): sent with 64, whatever the namespace's default.
        client.SetRawSocketOption(41, 16, BitConverter.GetBytes(64));

        for (var seq = 0; seq < 20; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(Bed.ProxyAddress6, ListenPort));
        }
        var received = receiver.Receive(20);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => ((long)i, 63)), received.OrderBy(r => r.Sequence));
        Assert.Equal(20, forwarder.ReadStats().Forwarded);
        Assert.Equal(0, forwarder.ReadStats().ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Forward_MixedFamilyListener_EachFamilyGoesInTheKernelToItsOwnDownstreams()
    {
        var ipv4Receiver = Bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, 6100));
        Receivers.Add(ipv4Receiver);
        Downstream[] set = [new("v4", new IPEndPoint(Bed.DownstreamAddress(0), 6100)), .. Downstreams(1, 2)];
        var forwarder = Start(set, Listener(IPAddress.IPv6Any));
        using var client4 = ClientSocket(ipv4: true);
        using var client6 = ClientSocket();

        await SendPacedAsync(client4, 300, _ => 64, burst: 100, to: Bed.ProxyAddress);
        await SendPacedAsync(client6, 300, _ => 64, burst: 100, first: 1000);

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), ipv4Receiver.Sequences.Order());
        Assert.Equal(Enumerable.Range(1000, 300).Select(i => (long)i), Receivers[..3].SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers[1..3], r => Assert.InRange(r.Count, 100, 200));
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L), (stats.Received, stats.Forwarded));
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        // The XDP layer (xdp: auto) met each IPv4 datagram once, forwarded or passed to tc, and left IPv6 to tc.
        Assert.Equal(300, stats.ModeCounters.Where(c => c.Name is "tc_xdp_forwarded_total" or "tc_xdp_passed_total" or "tc_xdp_redirect_failed_total").Sum(c => c.Value));
    }

    [Fact]
    public async Task Forward_NoDownstreamOfTheDatagramsFamily_TheFallbackSendsItToTheOtherFamily()
    {
        using var ipv4Receiver = Bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, 6100));
        var forwarder = Start([new Downstream("v4", new IPEndPoint(Bed.DownstreamAddress(0), 6100))]);
        using var client = ClientSocket();
        var target = new IPEndPoint(Bed.ProxyAddress6, ListenPort);

        for (var seq = 0; seq < 50; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), target);
        }

        await Eventually.TrueAsync(() => ipv4Receiver.Count == 50, "50 datagrams at the IPv4 downstream");
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), ipv4Receiver.Sequences.Order());
        var stats = forwarder.ReadStats();
        Assert.Equal((50L, 50L), (stats.Received, stats.Forwarded));
        Assert.Equal(50, PassedToStack(stats, "other_family"));
        Assert.Equal(50, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }
}
