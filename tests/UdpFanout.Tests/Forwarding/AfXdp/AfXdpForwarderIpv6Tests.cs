using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>The XDP program and AF_XDP sockets for real on a dual-stack testbed: the shared IPv6 data-path tests plus a mixed-family listener.</summary>
public sealed class AfXdpForwarderIpv6Tests() : KernelForwarderIpv6Tests("u6bx")
{
    private protected override ForwardingMode Mode => ForwardingMode.AfXdp;

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new AfXdpForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None());

    private protected override long PassedToStack(ListenerStats stats, string reason) =>
        stats.ModeCounters.Single(c => c.Name == "afxdp_passed_to_stack_total" && c.Labels![0].Value == reason).Value;

    [Fact]
    public async Task Forward_MixedFamilyListener_BothFamiliesTakeTheSocketsAndReachEveryDownstream()
    {
        // The payload leaves through a socket of the proxy, so a datagram of either family can go to a downstream of either.
        Receivers.Add(Bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, 6100)));
        Downstream[] set = [new("v4", new IPEndPoint(Bed.DownstreamAddress(0), 6100)), .. Downstreams(1, 2)];
        var forwarder = Start(set, Listener(IPAddress.IPv6Any));
        using var client4 = ClientSocket(ipv4: true);
        using var client6 = ClientSocket();

        await SendPacedAsync(client4, 300, _ => 64, burst: 100, to: Bed.ProxyAddress);
        await SendPacedAsync(client6, 300, _ => 64, burst: 100, first: 1000);

        Assert.Equal(Enumerable.Range(0, 300).Concat(Enumerable.Range(1000, 300)).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers[1..], r => Assert.InRange(r.Count, 150, 250));
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L), (stats.Received, stats.Forwarded));
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }
}
