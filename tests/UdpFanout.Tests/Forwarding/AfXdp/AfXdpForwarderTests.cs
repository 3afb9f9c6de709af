using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>The XDP program and AF_XDP sockets for real on a veth with two RX queues: the shared data-path tests plus the mode's own.</summary>
public sealed class AfXdpForwarderTests() : KernelForwarderTests("ufx", "10.202", proxyRxQueues: 2)
{
    private protected override ForwardingMode Mode => ForwardingMode.AfXdp;

    // The payload leaves through a socket of the proxy, from its address on the downstream's network.
    protected override IPAddress ExpectedSource(int index) => IPAddress.Parse($"{Bed.Network}.{11 + index}.1");

    private protected override IListenerForwarder Create(ListenerConfig listener) => new AfXdpForwarder(listener, NullLoggerFactory.Instance);

    private protected override long FragmentsPassed(ListenerStats stats) =>
        stats.ModeCounters.Single(c => c.Name == "afxdp_passed_to_stack_total").Value;

    [Fact]
    public async Task Start_TwoRxQueues_StartsTwoForwardersThatBothCarryTraffic()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        // veth delivers on the receive queue matching the sender's transmit queue, which follows the sending CPU.
        var clients = Enumerable.Range(0, 16).Select(_ => ClientSocket()).ToArray();
        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);
        var seq = 0L;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(cpu => Task.Run(() =>
        {
            foreach (var client in clients)
            {
                for (var i = 0; i < 200; i++)
                {
                    client.SendTo(NumberedPayload.Create(Interlocked.Increment(ref seq), 64), target);
                }
            }
        })));

        await Eventually.TrueAsync(() => forwarder.ReadStats().Forwarded == 6400, "every datagram forwarded");
        var perQueue = forwarder.ReadStats().ModeCounters.Where(c => c.Name == "afxdp_rx_frames_total").Select(c => c.Value).ToArray();
        Assert.Equal(2, perQueue.Length);
        Assert.All(perQueue, received => Assert.True(received > 0, $"a queue carried nothing: {string.Join(",", perQueue)}"));
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public void Dispose_DetachesTheXdpProgram()
    {
        Start(Downstreams(0));
        Assert.Contains("xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));

        Stop();

        Assert.DoesNotContain("prog/xdp", Bed.Proxy.Exec($"ip link show {Bed.ProxyIngress}"));
    }

    [Fact]
    public void Start_MoreQueuesThanTheInterfaceHas_SaysHowMany()
    {
        var forwarder = Create(Listener() with { Queues = 8 });

        var error = Assert.Throws<InvalidOperationException>(() => Bed.Proxy.Invoke(() =>
            forwarder.StartAsync(UdpFanout.Balancing.DownstreamSet.Empty, CancellationToken.None).GetAwaiter().GetResult()));

        Assert.Equal($"listener 'kernel': queues: 8, but {Bed.ProxyIngress} has 2 RX queue(s) (lower queues:, or raise the channel count with tuning:)", error.InnerException!.Message);
    }
}
