using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>
/// An af_xdp listener that a reload restarts while datagrams stream in, with the test playing systemd's store: the
/// new sockets bind the queues that the old ones held (the kernel frees a closed AF_XDP socket's queue late, so a
/// bind can meet EBUSY for a while), and what arrived meanwhile waited in the kept fallback socket.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class AfXdpForwarderRestartTests
{
    private const int ListenPort = 5514;
    private const int ReceiverPort = 6000;

    [Fact]
    public async Task Restart_TenTimesWhileTrafficFlows_EachStartBindsEveryQueueAndEveryDatagramArrivesOnce()
    {
        using var bed = NetnsTestbed.Create("urs", "10.196", downstreams: 1, proxyRxQueues: 2);
        using var receiver = bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, ReceiverPort));
        using var systemd = new NotifySocket();
        var store = new FileDescriptorStore(systemd.Path, [], NullLogger.Instance);
        var listener = new ListenerConfig
        {
            Name = "restarted",
            Bind = new IPEndPoint(bed.ProxyAddress, ListenPort),
            Mode = ForwardingMode.AfXdp,
            Interface = bed.ProxyIngress,
        };
        var downstreams = new DownstreamSet([new Downstream("s0", new IPEndPoint(bed.DownstreamAddress(0), ReceiverPort))]);
        // Several source ports, so that both RX queues carry traffic and both sockets' queues are taken over.
        var clients = Enumerable.Range(0, 8).Select(_ => bed.Client.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))).ToArray();
        bed.Client.Exec($"ping -c 1 -W 2 {bed.ProxyAddress}");
        bed.Proxy.Exec($"ping -c 1 -W 2 {bed.DownstreamAddress(0)}");
        AfXdpForwarder Start() => bed.Proxy.Invoke(() =>
        {
            var forwarder = new AfXdpForwarder(listener, NullLoggerFactory.Instance, store);
            forwarder.StartAsync(downstreams, CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        void Stop(AfXdpForwarder forwarder) => bed.Proxy.Invoke(() => forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        var forwarder = Start();
        var sent = 0L;
        using var stop = new CancellationTokenSource();
        var sender = Task.Run(() =>
        {
            var target = new IPEndPoint(bed.ProxyAddress, ListenPort);
            while (!stop.IsCancellationRequested)
            {
                // About 10,000/s: well within what the fallback socket's receive buffer holds across a restart.
                for (var i = 0; i < 10; i++)
                {
                    clients[i % clients.Length].SendTo(NumberedPayload.Create(sent, 64), target);
                    Volatile.Write(ref sent, sent + 1);
                }
                Thread.Sleep(1);
            }
        });
        try
        {
            for (var restart = 0; restart < 10; restart++)
            {
                await Task.Delay(100);
                Stop(forwarder);
                forwarder = Start();
                Assert.Equal(2, forwarder.ReadStats().ModeCounters.Count(c => c.Name == "afxdp_rx_frames_total"));
            }
            await Task.Delay(200);
            await stop.CancelAsync();
            await sender;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (receiver.Count < sent && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
            var got = receiver.Sequences.ToHashSet();
            var missing = Enumerable.Range(0, (int)sent).Where(i => !got.Contains(i)).ToArray();
            Assert.True(missing.Length == 0, $"{missing.Length} of {sent} missing: " + string.Join(",", missing.Take(50)));
            Stop(forwarder);
        }
        finally
        {
            await stop.CancelAsync();
            store.CloseSpare();
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
        await Task.Delay(200);
        Assert.Equal(Enumerable.Range(0, (int)sent).Select(i => (long)i), receiver.Sequences.Order());
        Assert.Equal(0, receiver.Corrupt);
    }
}
