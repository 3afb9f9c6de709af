using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding.AfXdp.Transmit;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp.Transmit;

/// <summary>
/// An af_xdp listener on a segment it shares with three downstreams (plus one behind another interface of the
/// proxy, index 3), with real packets: what the TX ring tests have in common.
/// </summary>
[Collection(KernelCollection.Name)]
public abstract class SegmentForwarderTests : IAsyncLifetime
{
    protected const int ListenPort = 5514;
    protected const int Far = 3;
    private protected readonly SegmentTestbed Bed;
    private protected readonly List<CountingReceiver> Receivers = [];
    private protected readonly RecordingLogger Log = new();
    private AfXdpForwarder? _forwarder;

    private protected SegmentForwarderTests(string network) => Bed = SegmentTestbed.Create("utx", network, downstreams: 3);

    public Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            Receivers.Add(Bed.Downstreams[i].Invoke(() => new CountingReceiver(IPAddress.Any, 6000 + i)));
        }
        Receivers.Add(Bed.Far.Invoke(() => new CountingReceiver(IPAddress.Any, 6000 + Far)));
        // Entries stay reachable for the whole test once confirmed, as under steady traffic (not stale after ~30 s).
        Bed.Proxy.Exec($"sysctl -qw net.ipv4.neigh.{Bed.ProxyIngress}.base_reachable_time_ms=600000");
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            Bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        Receivers.ForEach(r => r.Dispose());
        Bed.Dispose();
        return Task.CompletedTask;
    }

    private protected AfXdpForwarder Start(params int[] downstreams)
    {
        _forwarder = Bed.Proxy.Invoke(() =>
        {
            var forwarder = new AfXdpForwarder(Listener(), new LoggerFactory([new RecordingLoggerProvider(Log)]), FileDescriptorStores.None());
            forwarder.StartAsync(new DownstreamSet(Downstreams(downstreams)), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        return _forwarder;
    }

    private protected ListenerConfig Listener() => new()
    {
        Name = "segment",
        Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort),
        Mode = ForwardingMode.AfXdp,
        Interface = Bed.ProxyIngress,
        // The TX ring keeps the client's address, so it serves only listeners that ask for that.
        PreserveSource = true,
    };

    private protected Downstream[] Downstreams(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(i == Far ? Bed.FarAddress : Bed.DownstreamAddress(i), 6000 + i))).ToArray();

    /// <summary>Has the proxy's kernel resolve downstream <paramref name="index"/>'s MAC, as earlier traffic would have.</summary>
    private protected void Resolve(int index) => Bed.Proxy.Exec($"ping -c1 -W2 {Bed.DownstreamAddress(index)}");

    /// <summary>Waits until the forwarder sends to downstream <paramref name="index"/> of its set by <paramref name="path"/>.</summary>
    private protected static Task PathBecomesAsync(AfXdpForwarder forwarder, int index, TxPath path) =>
        Eventually.TrueAsync(() => forwarder.Segment!.Current.Targets is { } targets && targets.Length > index && targets[index].Path == path, $"downstream {index} to be sent by {path}");

    private protected Socket ClientSocket() => Bed.Client.Invoke(() =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(Bed.ClientAddress, 0));
        return socket;
    });

    private protected PacedSender Sender(AfXdpForwarder forwarder) =>
        new(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => Receivers.Sum(r => r.Count) + forwarder.ReadStats().DroppedTotal);

    private protected static long Counter(AfXdpForwarder forwarder, string name) =>
        forwarder.ReadStats().ModeCounters.Where(c => c.Name == name).Sum(c => c.Value);
}
