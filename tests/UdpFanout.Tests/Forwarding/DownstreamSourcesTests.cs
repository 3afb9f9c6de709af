using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;
using static Interop.Libc;

namespace UdpFanout.Tests.Forwarding;

/// <summary>
/// The learnt IPv6 sources with real packets, in the two modes whose IPv6 sending socket is bound to the wildcard:
/// af_xdp always, userspace on [::]. Each downstream must see the source the kernel itself picks for it (what
/// <c>ip -6 route get</c> names), also after that address is replaced while traffic flows.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class DownstreamSourcesTests : IAsyncLifetime
{
    private const int ListenPort = 5514;

    private readonly NetnsTestbed _bed = NetnsTestbed.Create("vsa", "10.183", downstreams: 3, ipv6: "fd83");
    private readonly List<CountingReceiver> _receivers = [];
    private IListenerForwarder? _forwarder;

    public Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            var address = _bed.DownstreamAddress6(i);
            var port = 6000 + i;
            _receivers.Add(_bed.Downstreams[i].Invoke(() => new CountingReceiver(address, port)));
        }
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            _bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        _receivers.ForEach(r => r.Dispose());
        _bed.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("userspace")]
    [InlineData("af_xdp")]
    public async Task Forward_Ipv6FromAWildcardSocket_EachDownstreamSeesTheKernelsSourceEachDatagramOnce(string mode)
    {
        var (forwarder, dataPlane) = Start(mode);
        using var client = Client(forwarder);

        await client.SendAsync(6000, seq => 16 + (int)(seq % 500), burst: 200);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 6000, "every datagram at the receivers");

        Assert.Equal(Enumerable.Range(0, 6000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        for (var i = 0; i < 3; i++)
        {
            var expected = KernelSourceFor(i);
            Assert.Equal(IPAddress.Parse($"fd83:{11 + i}::1"), expected);
            Assert.Equal(expected, Assert.Single(_receivers[i].Sources.Select(s => s.Address).Distinct()));
            Assert.Equal(expected, Learnt(dataPlane, i));
        }
        var stats = forwarder.ReadStats();
        Assert.Equal((6000L, 6000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(0, StaleSources(stats));
    }

    /// <summary>
    /// The proxy's address on the first downstream's link is replaced by another while datagrams flow: the follower
    /// learns the new one and the workers connect their IPv6 sockets afresh, every datagram arrives once (one sent
    /// meanwhile leaves its connected socket with the removed source, which the kernel allows), and received =
    /// forwarded + dropped holds.
    /// </summary>
    [Theory]
    [InlineData("userspace")]
    [InlineData("af_xdp")]
    public async Task Forward_ProxyAddressOnADownstreamLinkReplacedWhileTrafficFlows_NewSourceLearntNoneLost(string mode)
    {
        var (forwarder, dataPlane) = Start(mode);
        using var client = Client(forwarder);
        var link = $"{_bed.Id}d0";
        var replacement = IPAddress.Parse("fd83:11::7");

        var sending = client.SendAsync(30_000, seq => 16 + (int)(seq % 500), burst: 100);
        await Eventually.TrueAsync(() => forwarder.ReadStats().Forwarded >= 3000, "traffic flowing");
        _bed.Proxy.Exec($"ip -6 addr add {replacement}/64 dev {link} nodad");
        _bed.Proxy.Exec($"ip -6 addr del fd83:11::1/64 dev {link}");
        await Eventually.TrueAsync(() => Equals(Learnt(dataPlane, 0), replacement), "the new source learnt");
        await sending;
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 30_000, "every datagram at the receivers");

        Assert.Equal(replacement, KernelSourceFor(0));
        Assert.Equal(Enumerable.Range(0, 30_000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.Contains(replacement, _receivers[0].Sources.Select(s => s.Address));
        // The other downstreams' links kept their addresses, and their datagrams their sources.
        Assert.Equal(IPAddress.Parse("fd83:12::1"), Assert.Single(_receivers[1].Sources.Select(s => s.Address).Distinct()));
        var stats = forwarder.ReadStats();
        Assert.Equal((30_000L, 30_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(0, stats.ModeCounters.Where(c => c.Name == "ipv6_source_follow_failures_total").Sum(c => c.Value));
    }

    /// <summary>The follower fails on a burst of notifications, as a bug would: it says so once, counts it, and learns afresh.</summary>
    [Fact]
    public async Task Follow_FailsOnANotificationBurst_LoggedOnceCountedAndTheSourcesLearntAfresh()
    {
        var log = new RecordingLogger();
        var (forwarder, dataPlane) = Start("userspace", log);
        dataPlane.SourceFollower!.Fault.Arm(new InvalidOperationException("a bug in the follower"));
        var link = $"{_bed.Id}d0";
        var replacement = IPAddress.Parse("fd83:11::9");

        _bed.Proxy.Exec($"ip -6 addr add {replacement}/64 dev {link} nodad");
        _bed.Proxy.Exec($"ip -6 addr del fd83:11::1/64 dev {link}");

        await Eventually.TrueAsync(() => Equals(Learnt(dataPlane, 0), replacement), "the new source learnt after the failure");
        Assert.Equal(1, forwarder.ReadStats().ModeCounters.Single(c => c.Name == "ipv6_source_follow_failures_total").Value);
        var warning = Assert.Single(log.At(LogLevel.Warning));
        Assert.Equal("listener v6: following the kernel's IPv6 addresses and routes failed; IPv6 datagrams whose learnt source went stale are sent again with the kernel's choice until it works (ipv6_source_follow_failures_total)", warning.Message);
        Assert.Contains("listener v6: following the kernel's IPv6 addresses and routes again", log.Messages);
        using var client = Client(forwarder);
        await client.SendAsync(300, _ => 64, burst: 100);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 300, "every datagram at the receivers");
        Assert.Equal(replacement, Assert.Single(_receivers[0].Sources.Select(s => s.Address).Distinct()));
        Assert.Equal(0, StaleSources(forwarder.ReadStats()));
    }

    private (IListenerForwarder Forwarder, ListenerDataPlane DataPlane) Start(string mode, ILogger? logger = null)
    {
        var downstreams = _receivers.Select((r, i) => new Downstream($"s{i}", r.Endpoint)).ToArray();
        var (forwarder, dataPlane) = _bed.Proxy.Invoke<(IListenerForwarder, ListenerDataPlane)>(() =>
        {
            if (mode == "af_xdp")
            {
                var config = new ListenerConfig { Name = "v6", Bind = new IPEndPoint(_bed.ProxyAddress6, ListenPort), Mode = ForwardingMode.AfXdp, Interface = _bed.ProxyIngress };
                var xdp = new AfXdpForwarder(config, new LoggerFactory(), FileDescriptorStores.None());
                xdp.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
                return (xdp, xdp.DataPlane);
            }
            var wildcard = new ListenerConfig { Name = "v6", Bind = new IPEndPoint(IPAddress.IPv6Any, ListenPort), Workers = 2 };
            var userspace = new UserspaceForwarder(wildcard, logger ?? NullLogger.Instance, null);
            userspace.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return (userspace, userspace.DataPlane);
        });
        _forwarder = forwarder;
        return (forwarder, dataPlane);
    }

    private PacedSender Client(IListenerForwarder forwarder) =>
        new(_bed.Client.Invoke(() => new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp)),
            new IPEndPoint(_bed.ProxyAddress6, ListenPort), () => forwarder.ReadStats().Received);

    /// <summary>The source the proxy's kernel picks for downstream <paramref name="index"/>, as <c>ip -6 route get</c> says.</summary>
    private IPAddress KernelSourceFor(int index)
    {
        var words = _bed.Proxy.Exec($"ip -6 route get {_bed.DownstreamAddress6(index)}").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return IPAddress.Parse(words[Array.IndexOf(words, "src") + 1]);
    }

    private static unsafe IPAddress? Learnt(ListenerDataPlane dataPlane, int index)
    {
        var source = dataPlane.Active.Sources.Current[index];
        return DownstreamSources.Known(source) ? new IPAddress(new ReadOnlySpan<byte>(source.ipi6_addr, 16)) : null;
    }

    private static long StaleSources(ListenerStats stats) =>
        stats.ModeCounters.Where(c => c.Name == "ipv6_stale_sources_total").Sum(c => c.Value);
}
