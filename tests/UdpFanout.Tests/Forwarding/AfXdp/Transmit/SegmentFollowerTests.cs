using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp.Transmit;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp.Transmit;

/// <summary>The kernel's neighbour entries followed as they go and change, with real packets on a bridge.</summary>
public sealed class SegmentFollowerTests() : SegmentForwarderTests("10.193")
{
    [Fact]
    public async Task Forward_NeighbourFlushed_FirstDatagramThroughTheKernelWhichResolvesItThenTheRing()
    {
        Resolve(0);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        using var client = Sender(forwarder);
        await client.SendAsync(100, _ => 64);

        Bed.Proxy.Exec($"ip neigh flush dev {Bed.ProxyIngress}");
        await PathBecomesAsync(forwarder, 0, TxPath.NeighbourMiss);
        await client.SendAsync(1, _ => 64);
        // The kernel sent it, resolving the neighbour on the way; its reply makes the entry reachable again.
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        await client.SendAsync(100, _ => 64);

        Assert.Equal(Enumerable.Range(0, 201).Select(i => (long)i), Receivers[0].Sequences.Order());
        Assert.Equal(0, Receivers[0].Corrupt);
        // The one through the kernel left from the raw sender, the rest from the ring: all keep the client's address.
        Assert.Equal([Bed.ClientAddress], Receivers[0].Sources.Select(s => s.Address).Distinct());
        Assert.Equal(1, Counter(forwarder, "afxdp_tx_neighbour_miss_total"));
        Assert.Equal(200, Counter(forwarder, "afxdp_tx_frames_total"));
        Assert.Equal(201, forwarder.ReadStats().Forwarded);
    }

    [Fact]
    public async Task Forward_DownstreamMacChanges_FramesFollowTheKernelsNewEntry()
    {
        // The receiver announces its new MAC (gratuitous ARP), as a replaced NIC or a moved VM does.
        Bed.Downstreams[0].Exec($"sysctl -qw net.ipv4.conf.{Bed.DownstreamInterface(0)}.arp_notify=1");
        Resolve(0);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        using var client = Sender(forwarder);
        await client.SendAsync(500, _ => 64);
        // The kernel ignores an announcement within a second (locktime) of the entry's last update.
        await Task.Delay(1100);

        Bed.Downstreams[0].Exec($"ip link set dev {Bed.DownstreamInterface(0)} address 02:00:5e:10:19:30");
        var newMac = FrameRewriter.PackMac([0x02, 0x00, 0x5e, 0x10, 0x19, 0x30]);
        await Eventually.TrueAsync(() => forwarder.Segment!.Neighbour(Address(0)) is { } entry && entry.Mac == newMac, "the follower to hold the new MAC");
        if (forwarder.Segment!.Current.Targets[0].Path != TxPath.Ring)
        {
            // Announced as stale: the first datagram goes through the kernel, which confirms the entry.
            await client.SendAsync(1, _ => 64);
            await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        }
        await client.SendAsync(500, _ => 64);

        var sent = client.Sent;
        Assert.Equal(Enumerable.Range(0, (int)sent).Select(i => (long)i), Receivers[0].Sequences.Order());
        Assert.True(Counter(forwarder, "afxdp_tx_frames_total") >= 1000);
        Assert.Equal(sent, forwarder.ReadStats().Forwarded);
    }

    [Fact]
    public async Task Forward_NeighbourGoesStale_StaysOnTheRingWhileTheKernelIsAskedToConfirmIt()
    {
        // The kernel waits this long in DELAY before it probes (5 s by default).
        Bed.Proxy.Exec($"sysctl -qw net.ipv4.neigh.{Bed.ProxyIngress}.delay_first_probe_time=1");
        Resolve(0);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        var mac = Bed.DownstreamMac(0);

        // As after base_reachable_time without the kernel sending to it: the TX ring's frames never confirm it.
        Bed.Proxy.Exec($"ip neigh change {Bed.DownstreamAddress(0)} lladdr {mac} dev {Bed.ProxyIngress} nud stale");

        // Asked to confirm it, the kernel probes the receiver, which answers: reachable again, without a datagram.
        await Eventually.TrueAsync(() => Bed.ProxyNeighbour(0).EndsWith("REACHABLE"), "the kernel to confirm the entry");
        Assert.Equal(TxPath.Ring, forwarder.Segment!.Current.Targets[0].Path);
        using var client = Sender(forwarder);
        await client.SendAsync(100, _ => 64);
        Assert.Equal(100, Receivers[0].Sequences.Distinct().Count());
        Assert.Equal(Bed.ClientAddress, Assert.Single(Receivers[0].Sources).Address);
        Assert.Equal(0, Counter(forwarder, "afxdp_tx_neighbour_miss_total"));
    }

    [Fact]
    public async Task Follow_FailsWhileFollowing_LoggedOnceCountedThroughTheKernelMeanwhileThenTheRingAgain()
    {
        Resolve(0);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);

        // The next burst of notifications fails, as a socket that fell behind (ENOBUFS) does.
        forwarder.Segment!.Fault.Arm(new ForwarderException("cannot read from a netlink socket: No buffer space available (errno 105)"));
        Bed.Proxy.Exec($"ip neigh replace {Bed.DownstreamAddress(1)} lladdr 02:00:5e:00:00:01 dev {Bed.ProxyIngress}");

        await Eventually.TrueAsync(() => Counter(forwarder, "afxdp_netlink_failures_total") == 1, "the failure counted");
        // A fresh dump a second later finds the entry reachable, and the ring takes over again.
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        using var client = Sender(forwarder);
        await client.SendAsync(100, _ => 64);
        Assert.Equal(100, Receivers[0].Sequences.Distinct().Count());
        Assert.Equal(100, Counter(forwarder, "afxdp_tx_frames_total"));
        var warning = Assert.Single(Log.At(Microsoft.Extensions.Logging.LogLevel.Warning));
        Assert.Equal("listener segment: following the kernel's neighbours and routes failed; datagrams go through the kernel until a fresh dump succeeds (afxdp_netlink_failures_total)", warning.Message);
        Assert.Contains(Log.Messages, m => m == "listener segment: following the kernel's neighbours and routes again; datagrams to the listener's segment leave from the TX ring");
        Assert.Equal(1, Counter(forwarder, "afxdp_netlink_failures_total"));
    }

    private uint Address(int index) => BitConverter.ToUInt32(Bed.DownstreamAddress(index).GetAddressBytes());
}
