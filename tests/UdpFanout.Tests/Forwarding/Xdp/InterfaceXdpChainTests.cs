using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.Xdp;

/// <summary>
/// The interface's XDP link when its last listener (here an af_xdp one) leaves: outside systemd it detaches; under
/// systemd it stays in the store, attached with an empty chain that passes everything to the stack, until the
/// store closes it; and a kept link in a mode the config no longer allows is closed and the chain attaches anew.
/// The test plays systemd's store with a notify socket, whose copies of the descriptors it closes as systemd's
/// flush would.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class InterfaceXdpChainTests : IDisposable
{
    private const int ListenPort = 5514;
    private const int StackPort = 5600;

    private readonly NetnsTestbed _bed = NetnsTestbed.Create("xl", "10.180", downstreams: 1);
    private readonly NotifySocket _systemd = new();
    private readonly List<SafeFileHandle> _systemdCopies = [];
    private readonly CountingReceiver _downstream;
    private readonly Socket _client;

    public InterfaceXdpChainTests()
    {
        _downstream = _bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, 6000));
        _client = _bed.Client.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        _bed.Client.Exec($"ping -c 1 -W 2 {_bed.ProxyAddress}");
    }

    public void Dispose()
    {
        _systemdCopies.ForEach(fd => fd.Dispose());
        _client.Dispose();
        _downstream.Dispose();
        _systemd.Dispose();
        _bed.Dispose();
    }

    [Fact]
    public async Task Leave_LastListenerOutsideSystemd_NothingStaysAttached()
    {
        var forwarder = Start(FileDescriptorStores.None(), XdpAttachMode.Native);
        await SendAsync(ListenPort, 100, () => _downstream.Count);
        Assert.NotNull(XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));

        Stop(forwarder);

        Assert.Null(XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));
        Assert.DoesNotContain("xdp", _bed.Proxy.Exec($"ip link show {_bed.ProxyIngress}"));
    }

    [Fact]
    public async Task Leave_LastListenerUnderSystemd_TheLinkStaysWithAnEmptyChainTrafficReachesTheStackAndClosingTheStoreDetaches()
    {
        var store = new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance);
        var forwarder = Start(store, XdpAttachMode.Native);
        await SendAsync(ListenPort, 100, () => _downstream.Count);
        var attached = XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress);

        Stop(forwarder);

        // Still the same link and root, in native mode: nothing was detached, so the device's rings were left alone.
        Assert.Equal(attached, XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));
        // The chain is empty: the proxy's stack gets what is not the listener's, and the listener's datagrams wait in
        // its kept fallback socket for the next process.
        using (var stack = _bed.Proxy.Invoke(() => new CountingReceiver(_bed.ProxyAddress, StackPort)))
        {
            await SendAsync(StackPort, 100, () => stack.Count);
        }
        var forwarded = _downstream.Count;
        Send(ListenPort, 100);
        await Eventually.TrueAsync(() => WaitingInTheFallback() > 0, "the listener's datagrams to wait in its kept fallback socket");
        Assert.Equal(forwarded, _downstream.Count);

        store.CloseSpare();
        var messages = TakeSystemdCopies();
        // The link, the queue's AF_XDP socket and its UMEM, its XSKMAP, the fallback socket: stored at start, and let
        // go of here, but for the XSKMAP, which the stop removed as it took the socket out of it (only a crash leaves it).
        string[] kept = ["xdp@" + _bed.ProxyIngress, "kept/xsk0", "kept/umem0", "kept/xsks", "kept/0"];
        Assert.Equal(kept.Select(name => $"FDSTORE=1\nFDNAME={name}"), messages.Take(kept.Length));
        Assert.Equal(kept.Select(name => $"FDSTOREREMOVE=1\nFDNAME={name}").Order(), messages.Skip(kept.Length).Order());
        // This process let go; systemd's copy holds the link, and the root attached, as the store would.
        Assert.Equal(attached, XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));

        _systemdCopies.ForEach(fd => fd.Dispose());

        Assert.Null(XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));
        await Eventually.TrueAsync(() => !BpfPrograms.Exists(attached!.Value.ProgramId), "the root to be unloaded once nothing holds its link");
    }

    [Fact]
    public async Task Join_KeptLinkInAModeTheConfigNoLongerAllows_IsClosedAndTheChainAttachesAnewInThatMode()
    {
        var store = new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance);
        Stop(Start(store, XdpAttachMode.Native));
        var native = XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress);
        Assert.True(native!.Value.Native);

        var forwarder = Start(store, XdpAttachMode.Skb);
        try
        {
            var generic = XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress);
            Assert.False(generic!.Value.Native);
            Assert.NotEqual(native.Value.LinkId, generic.Value.LinkId);
            Assert.Contains(" xdpgeneric ", _bed.Proxy.Exec($"ip link show {_bed.ProxyIngress}"));
            await SendAsync(ListenPort, 100, () => _downstream.Count);
            Assert.Equal(100, forwarder.ReadStats().ModeCounters.Single(c => c.Name == "afxdp_rx_frames_total").Value);
            // The native link left systemd's store as it closed: a stale name there would hand it out again.
            Assert.Contains("FDSTOREREMOVE=1\nFDNAME=xdp@" + _bed.ProxyIngress, TakeSystemdCopies());
        }
        finally
        {
            Stop(forwarder);
            store.CloseSpare();
        }
    }

    private AfXdpForwarder Start(FileDescriptorStore store, XdpAttachMode mode) => _bed.Proxy.Invoke(() =>
    {
        var listener = new ListenerConfig
        {
            Name = "kept",
            Bind = new IPEndPoint(_bed.ProxyAddress, ListenPort),
            Mode = ForwardingMode.AfXdp,
            Interface = _bed.ProxyIngress,
            XdpMode = mode,
        };
        var forwarder = new AfXdpForwarder(listener, NullLoggerFactory.Instance, store);
        forwarder.StartAsync(new DownstreamSet([new Downstream("s0", new IPEndPoint(_bed.DownstreamAddress(0), 6000))]), CancellationToken.None).GetAwaiter().GetResult();
        return forwarder;
    });

    private void Stop(AfXdpForwarder forwarder) => _bed.Proxy.Invoke(() => forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());

    /// <summary>Bytes waiting in the listener's kept fallback socket (ss's skmem r).</summary>
    private int WaitingInTheFallback()
    {
        var line = _bed.Proxy.Exec($"ss -Huamn sport = :{ListenPort}");
        var at = line.IndexOf("skmem:(r", StringComparison.Ordinal);
        return at < 0 ? 0 : int.Parse(line[(at + 8)..].Split(',')[0]);
    }

    /// <summary>What reached "systemd" since the last call; the descriptors stored with it stay open, as systemd's copies.</summary>
    private List<string> TakeSystemdCopies()
    {
        var messages = new List<string>();
        while (_systemd.Next(0.5) is var (text, fd))
        {
            messages.Add(text);
            if (fd is not null)
            {
                _systemdCopies.Add(fd);
            }
        }
        return messages;
    }

    /// <summary>Sends <paramref name="count"/> numbered datagrams to the proxy's <paramref name="port"/> and waits until <paramref name="arrived"/> has grown by as many.</summary>
    private async Task SendAsync(int port, int count, Func<int> arrived)
    {
        var before = arrived();
        Send(port, count);
        await Eventually.TrueAsync(() => arrived() >= before + count, $"{count} datagrams to port {port} where they go");
    }

    private void Send(int port, int count)
    {
        for (var seq = 0; seq < count; seq++)
        {
            _client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(_bed.ProxyAddress, port));
        }
    }
}
