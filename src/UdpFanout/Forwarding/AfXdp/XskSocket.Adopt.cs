using static Interop.Libc;
using static Interop.Xdp;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>Taking over a socket and its UMEM that systemd's store kept while no forwarder ran them.</summary>
internal sealed unsafe partial class XskSocket
{
    /// <summary>How long a socket taken over may take to see the frames it had sent from its TX ring completed.</summary>
    private const int TxSettleMilliseconds = 100;

    /// <summary>
    /// Takes over socket <paramref name="fd"/> and its UMEM memfd <paramref name="umemFd"/>, kept while another
    /// process (or this one's previous listener) ran it, when they are what <see cref="Open"/> would make for
    /// <paramref name="queue"/> of <paramref name="ifindex"/> with <paramref name="frameSize"/>; else returns null
    /// with the reason in <paramref name="misfit"/>, and the caller closes both. Maps the same rings and UMEM again,
    /// with the frames they hold: what waits in the RX ring is forwarded next. Frames the previous forwarder had
    /// taken from the RX ring to send (<see cref="XskRecord.Taken"/>) go back to the fill ring without being sent
    /// again; their count is in <paramref name="skipped"/>. The frames in no ring were in that forwarder's hands:
    /// they go back to the fill ring when nothing else can hold them, else (in <paramref name="leftOut"/>) they stay
    /// out of use rather than risk a frame in two places.
    /// </summary>
    public static XskSocket? Adopt(int fd, int umemFd, int ifindex, int queue, int frameSize, out string misfit, out uint skipped, out uint leftOut)
    {
        (misfit, skipped, leftOut) = ("", 0, 0);
        int domain;
        var length = (uint)sizeof(int);
        if (getsockopt(fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_DOMAIN, &domain, &length) != 0 || domain != AF_XDP)
        {
            misfit = "not an AF_XDP socket";
            return null;
        }
        var size = RandomAccess.GetLength(new Microsoft.Win32.SafeHandles.SafeFileHandle(umemFd, ownsHandle: false));
        if (size != (long)MemoryLength(frameSize))
        {
            misfit = $"its UMEM has {size} bytes, frames of {frameSize} bytes need {MemoryLength(frameSize)} (the interface's MTU changed)";
            return null;
        }
        var memory = Map(umemFd, frameSize);
        var record = *(XskRecord*)(memory + (nint)UmemLength(frameSize));
        if (record.Magic == XskRecord.Version1Magic)
        {
            // Its field ends at Taken: what follows is the struct's padding, not a map id.
            (record.Magic, record.XskMapId) = (XskRecord.CurrentMagic, 0);
        }
        var wanted = Describe(ifindex, queue, frameSize);
        (wanted.Taken, wanted.XskMapId) = (record.Taken, record.XskMapId);
        if (!record.Equals(wanted))
        {
            munmap(memory, MemoryLength(frameSize));
            misfit = record.Magic != XskRecord.CurrentMagic ? "written by another version"
                : $"it is bound to queue {record.Queue} of interface {record.Ifindex} with frames of {record.FrameSize} bytes";
            return null;
        }
        try
        {
            var (fill, completion, rx, tx) = MapRings(fd);
            xdp_options options;
            length = (uint)sizeof(xdp_options);
            var zeroCopy = getsockopt(fd, SOL_XDP, XDP_OPTIONS, &options, &length) == 0 && (options.flags & XDP_OPTIONS_ZEROCOPY) != 0;
            var socket = new XskSocket(fd, umemFd, frameSize, memory, fill, completion, rx, tx, zeroCopy);
            *socket._record = record;
            (skipped, leftOut) = socket.Reclaim(record.Taken);
            return socket;
        }
        catch (ForwarderException e)
        {
            munmap(memory, MemoryLength(frameSize));
            misfit = e.Message;
            return null;
        }
    }

    /// <summary>
    /// Rebuilds which frames are whose in a socket taken over while no forwarder ran it (its program out of the
    /// interface's chain, so nothing arrives meanwhile): every frame between a ring's consumer and producer is the
    /// kernel's or waits for the forwarder; the RX frames the last forwarder had taken go to the fill ring unsent,
    /// but for those it had put on the TX ring too, which the completion ring returns once the kernel sent them; the
    /// rest were in its hands and are free, unless the kernel may hold some outside the rings (a driver's zero-copy
    /// RX buffers, a frame kept after an RX ring overflow, a send not yet completed): <see cref="FrameReclaim"/>.
    /// </summary>
    private (uint Skipped, uint LeftOut) Reclaim(uint taken)
    {
        var statistics = RawStatistics();
        var deadline = Environment.TickCount64 + TxSettleMilliseconds;
        // Every TX descriptor the kernel consumed comes back in the completion ring, but for the invalid ones.
        while (Tx.Consumer - Completion.Producer - (uint)statistics.tx_invalid_descs != 0 && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(1);
            statistics = RawStatistics();
        }
        var inFlight = Tx.Consumer - Completion.Producer - (uint)statistics.tx_invalid_descs;
        var waiting = Rx.Available(out var first);
        var skipped = taken - first <= waiting ? taken - first : 0;
        var (toFill, leftOut) = FrameReclaim.Plan(
            Addresses(Fill, i => ((ulong*)Fill.Descriptors)[Fill.Slot(i)]),
            Addresses(Completion, i => ((ulong*)Completion.Descriptors)[Completion.Slot(i)]),
            Addresses(Rx, i => ((xdp_desc*)Rx.Descriptors)[Rx.Slot(i)].addr),
            (int)skipped,
            Addresses(Tx, i => ((xdp_desc*)Tx.Descriptors)[Tx.Slot(i)].addr),
            inFlight,
            kernelMayHold: ZeroCopy || statistics.rx_ring_full != 0 || statistics.rx_dropped != 0,
            FrameCount,
            FrameSize);
        Rx.Consume(skipped);
        var fills = (ulong*)Fill.Descriptors;
        foreach (var address in toFill)
        {
            fills[Fill.Slot(Fill.Reserve())] = address;
        }
        Fill.Submit();
        MarkTaken(Rx.Consumer);
        return (skipped, leftOut);
    }

    /// <summary>The frame addresses a ring holds between its published consumer and producer.</summary>
    private static ulong[] Addresses(XskRing ring, Func<uint, ulong> at)
    {
        var addresses = new ulong[ring.Producer - ring.Consumer];
        for (var i = 0u; i < addresses.Length; i++)
        {
            addresses[i] = at(ring.Consumer + i);
        }
        return addresses;
    }
}
