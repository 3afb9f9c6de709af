using System.Net;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding.AfXdp.Transmit;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp.Transmit;

/// <summary>Downstreams on the listener's segment served from the TX ring, with real packets on a bridge.</summary>
public sealed class XskTransmitterTests() : SegmentForwarderTests("10.193")
{
    [Fact]
    public async Task Forward_ToDownstreamsOnTheSegment_LeaveFromTheTxRingOnceEachByteExactFromTheClient()
    {
        Resolve(0);
        Resolve(1);
        Resolve(2);
        var forwarder = Start(0, 1, 2, Far);
        await PathBecomesAsync(forwarder, 2, TxPath.Ring);
        using var client = Sender(forwarder);

        // Up to MTU-sized: 1472 bytes of payload fill a 1500-byte IPv4 packet.
        await client.SendAsync(40_000, seq => 16 + (int)(seq % 1457));

        Assert.Equal(Enumerable.Range(0, 40_000).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.All(Receivers, r => Assert.InRange(r.Count, 9_000, 11_000));
        // Every receiver sees the client, port and all: the segment's from the ring, the one behind the other
        // interface from the raw sender.
        for (var i = 0; i < 3; i++)
        {
            var source = Assert.Single(Receivers[i].Sources);
            Assert.Equal(Bed.ClientAddress, source.Address);
        }
        Assert.Single(Receivers.SelectMany(r => r.Sources).Distinct());
        var stats = forwarder.ReadStats();
        Assert.Equal((40_000L, 40_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(Receivers.Take(3).Sum(r => r.Count), Counter(forwarder, "afxdp_tx_frames_total"));
        Assert.Equal(0, Counter(forwarder, "afxdp_tx_neighbour_miss_total"));
        Assert.Equal(0, Counter(forwarder, "afxdp_tx_invalid_descs_total"));
        for (var i = 0; i <= Far; i++)
        {
            Assert.Equal(Receivers[i].Count, stats.Downstreams.Single(d => d.Downstream.Name == $"s{i}").Packets);
        }
    }

    [Fact]
    public async Task Forward_ALongRun_ReturnsEveryFrameThroughTheCompletionRing()
    {
        // More than the UMEM's 16384 frames: a frame the TX path kept would run the fill ring dry and show as drops.
        Resolve(0);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        using var client = Sender(forwarder);

        await client.SendAsync(50_000, _ => 64);

        Assert.Equal(50_000, Receivers[0].Sequences.Distinct().Count());
        var stats = forwarder.ReadStats();
        Assert.Equal((50_000L, 0L), (stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(50_000, Counter(forwarder, "afxdp_tx_frames_total"));
        Assert.Equal(0, Counter(forwarder, "afxdp_rx_fill_ring_empty_descs_total"));
    }

    [Fact]
    public async Task Forward_AQueueForwarderThrowsAfterItsTxRingSubmit_NothingLostAndNoFrameOwnedTwice()
    {
        Resolve(0);
        Resolve(1);
        var forwarder = Start(0, 1);
        await PathBecomesAsync(forwarder, 1, TxPath.Ring);
        using var client = Sender(forwarder);
        await client.SendAsync(100, _ => 64, burst: 10);

        // The next batch fails after its frames went on the TX ring, before its sendmmsg (empty here): they are sent
        // and counted forwarded, so none counts as dropped; none goes back to the fill ring twice either, which the
        // 20,000 after it would show as corrupt or lost datagrams.
        forwarder.Fault.Arm(new InvalidOperationException("a bug in the loop"));
        await client.SendAsync(20_000, seq => 16 + (int)(seq % 1000), burst: 500);

        Assert.Equal(Enumerable.Range(0, 20_100).Select(i => (long)i), Receivers.Take(2).SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((20_100L, 20_100L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(1, Counter(forwarder, "worker_restarts_total"));
        Assert.Equal(0, Counter(forwarder, "afxdp_fill_ring_full_total"));
    }

    [Fact]
    public async Task Forward_TheDeviceTakesNoFrames_AFullTxRingDropsAndCountsWhatComesNextAndSendsTheRestOnceItDoes()
    {
        Resolve(0);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);
        // Paced by what the proxy takes in: nothing reaches the receiver while the ring is held.
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

        forwarder.HoldTxRings(true);
        // In bursts the worker keeps up with: the RX ring never overflows, only the TX ring fills.
        await client.SendAsync(3_000, _ => 64, burst: 100);
        var held = forwarder.ReadStats();
        Assert.Equal(3_000, held.Received);
        Assert.Equal((long)XskSocket.TxRingSize, held.Forwarded);
        Assert.Equal(3_000 - XskSocket.TxRingSize, held.Dropped[(int)DropReason.XskTxRingFull]);
        Assert.Equal(held.DroppedTotal, held.Dropped[(int)DropReason.XskTxRingFull]);
        Assert.Empty(Receivers[0].Sequences);

        // What the ring held goes once the device takes frames again, and then the ring has room for what follows.
        forwarder.HoldTxRings(false);
        await Eventually.TrueAsync(() => Receivers[0].Count == XskSocket.TxRingSize, "the held frames to arrive");
        await client.SendAsync(1_000, _ => 64, burst: 100);

        // Nothing dropped is sent, nothing is sent twice.
        var stats = forwarder.ReadStats();
        await Eventually.TrueAsync(() => Receivers[0].Count == stats.Forwarded, "the frames after the hold to arrive");
        Assert.Equal((4_000L, (long)XskSocket.TxRingSize + 1_000), (stats.Received, stats.Forwarded));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(Receivers[0].Count, Receivers[0].Sequences.Distinct().Count());
        Assert.Equal(0, Receivers[0].Corrupt);
        Assert.Equal(stats.Forwarded, Counter(forwarder, "afxdp_tx_frames_total"));
    }

    [Fact]
    public async Task UpdateDownstreams_ANewDownstreamOnTheSegment_LeavesFromTheTxRingOnceItsNeighbourIsKnown()
    {
        Resolve(0);
        Resolve(1);
        var forwarder = Start(0);
        await PathBecomesAsync(forwarder, 0, TxPath.Ring);

        Bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new UdpFanout.Balancing.DownstreamSet(Downstreams(0, 1))));

        // Built for the new set as the update returns: the first batch after it finds both on the ring.
        Assert.Equal([TxPath.Ring, TxPath.Ring], forwarder.Segment!.Current.Targets.Select(t => t.Path));
        using var client = Sender(forwarder);
        await client.SendAsync(1000, _ => 100);
        Assert.Equal(1000, Receivers.Take(2).SelectMany(r => r.Sequences).Distinct().Count());
        Assert.Equal(1000, Counter(forwarder, "afxdp_tx_frames_total"));
        Assert.All(Receivers.Take(2), r => Assert.Equal(Bed.ClientAddress, Assert.Single(r.Sources).Address));
    }
}
