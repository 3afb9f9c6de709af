using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Xdp;

namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>
/// The TX side of one queue forwarder: rewrites frames for downstreams on the listener's segment in place (see
/// <see cref="FrameRewriter"/>), puts them on the socket's TX ring, wakes the kernel to send them, and returns the
/// frames the kernel reports in the completion ring to the fill ring. A full TX ring drops the frame (counted as
/// xsk_tx_ring_full): waiting would stall the RX ring behind it. Single-threaded: the worker's own thread only.
/// </summary>
internal sealed unsafe class XskTransmitter
{
    // In copy mode one wake-up sends at most 32 frames (the kernel's TX_BATCH_SIZE) and says EAGAIN while more
    // wait; a full ring takes this many wake-ups, and a kernel that stops taking frames ends the loop sooner.
    private const int MaxWakeups = (int)(XskSocket.TxRingSize / WakeupBatch) + 1;

    /// <summary>
    /// Frames worth a wake-up while more arrive: one copy-mode wake-up's worth. Fewer wait for the next batch or for
    /// the RX ring to run empty (<see cref="Wake"/>), so a steady stream costs a syscall per 32 frames, not per batch.
    /// </summary>
    private const int WakeupBatch = 32;

    private readonly XskSocket _socket;
    private readonly ulong _sourceMac;
    private readonly ulong _chunkMask;
    private long[] _tallyPackets = new long[16];
    private long[] _tallyBytes = new long[16];
    private uint _written;
    private long _frames;
    private long _neighbourMisses;
    private long _wakeupErrors;
    private volatile bool _held;

    public XskTransmitter(XskSocket socket, ReadOnlySpan<byte> sourceMac)
    {
        _socket = socket;
        _sourceMac = FrameRewriter.PackMac(sourceMac);
        _chunkMask = ~(ulong)(socket.FrameSize - 1);
    }

    /// <summary>Frames put on the TX ring.</summary>
    public long Frames => Volatile.Read(ref _frames);

    /// <summary>Datagrams to a downstream on the segment that went through the kernel, whose neighbour entry was not reachable.</summary>
    public long NeighbourMisses => Volatile.Read(ref _neighbourMisses);

    /// <summary>Wake-ups of the TX ring (sendto) that failed for a reason other than a busy device or queue.</summary>
    public long WakeupErrors => Volatile.Read(ref _wakeupErrors);

    /// <summary>
    /// A test seam, like <see cref="AfXdpQueueWorker.Paused"/>: while true the kernel is never woken to send, as a
    /// device that takes no frames would leave them (in copy mode the kernel sends only when woken: by a send, or by
    /// a poll(), which the worker then skips too), so the TX ring
    /// fills for real and a test proves what comes next is dropped and counted, never waited for.
    /// </summary>
    public bool Held
    {
        get => _held;
        set => _held = value;
    }

    /// <summary>Makes room in the tallies for a set of <paramref name="downstreams"/> (only when a larger set arrives).</summary>
    public void Prepare(int downstreams)
    {
        if (_tallyPackets.Length < downstreams)
        {
            _tallyPackets = new long[downstreams];
            _tallyBytes = new long[downstreams];
        }
    }

    /// <summary>
    /// Takes the received frame <paramref name="desc"/> for downstream <paramref name="target"/> onto the TX ring
    /// when its target says so, counting it forwarded (or dropped); else leaves it to the stack.
    /// </summary>
    public TxVerdict Offer(in xdp_desc desc, int udpOffset, int payloadLength, int target, SegmentTarget path, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        if (path.Path != TxPath.Ring)
        {
            if (path.Path == TxPath.NeighbourMiss)
            {
                // The send through the kernel makes it resolve the neighbour, whose entry then comes back reachable.
                _neighbourMisses++;
            }
            return TxVerdict.Stack;
        }
        var frame = _socket.Frame(desc.addr);
        // Only plain IPv4 frames are rewritten here; a VLAN-tagged one goes through the kernel, whose VLAN device knows its tag.
        if (frame[12] != 0x08 || frame[13] != 0x00)
        {
            return TxVerdict.Stack;
        }
        if (FrameRewriter.Ttl(frame) <= 1)
        {
            counters.Dropped[(int)DropReason.TtlExpired]++;
            return TxVerdict.Dropped;
        }
        var tx = _socket.Tx;
        if (tx.Free == 0)
        {
            counters.Dropped[(int)DropReason.XskTxRingFull]++;
            return TxVerdict.Dropped;
        }
        ref readonly var address = ref downstreams.Addresses[target];
        FrameRewriter.Rewrite(frame, udpOffset, path.Mac, _sourceMac, address.v4.sin_addr, address.v4.sin_port);
        ((xdp_desc*)tx.Descriptors)[tx.Slot(tx.Reserve())] = new xdp_desc { addr = desc.addr, len = desc.len };
        _written++;
        counters.Forwarded++;
        counters.ForwardedBytes += payloadLength;
        _tallyPackets[target]++;
        _tallyBytes[target] += payloadLength;
        return TxVerdict.Ring;
    }

    /// <summary>
    /// Publishes the frames written since the last call, hands their counts to the downstreams, and wakes the kernel
    /// to send them once a wake-up's worth waits. Also what a failed batch calls: a frame on the ring is counted
    /// forwarded and owned by the kernel.
    /// </summary>
    public void Submit(ActiveDownstreams downstreams)
    {
        for (var t = 0; t < downstreams.Count; t++)
        {
            if (_tallyPackets[t] != 0)
            {
                downstreams.Counters[t].Add(_tallyPackets[t], _tallyBytes[t]);
                _tallyPackets[t] = 0;
                _tallyBytes[t] = 0;
            }
        }
        if (_written == 0)
        {
            return;
        }
        _socket.Tx.Submit();
        Interlocked.Add(ref _frames, _written);
        _written = 0;
        if (Pending >= WakeupBatch)
        {
            Wake();
        }
    }

    /// <summary>
    /// Moves the frames the kernel is done with from the completion ring to the fill ring; returns how many. The
    /// fill ring holds every frame, so there is always room.
    /// </summary>
    public uint ReturnCompleted()
    {
        var completion = _socket.Completion;
        var done = completion.Available(out var first);
        if (done == 0)
        {
            return 0;
        }
        var fill = _socket.Fill;
        var completed = (ulong*)completion.Descriptors;
        var fills = (ulong*)fill.Descriptors;
        for (var i = 0u; i < done; i++)
        {
            fills[fill.Slot(fill.Reserve())] = completed[completion.Slot(first + i)] & _chunkMask;
        }
        completion.Consume(done);
        fill.Submit();
        return done;
    }

    /// <summary>Frames on the TX ring the kernel has not taken yet.</summary>
    public uint Pending => _socket.Tx.Size - _socket.Tx.Free;

    /// <summary>
    /// Asks the kernel to send what waits on the TX ring, when it asked to be asked (need_wakeup: always so in copy
    /// mode, where the sending happens in this call). Never blocks: a busy device leaves the rest for the next call.
    /// </summary>
    public void Wake()
    {
        if (_held)
        {
            return;
        }
        var tx = _socket.Tx;
        for (var i = 0; i < MaxWakeups && Pending > 0 && tx.NeedsWakeup; i++)
        {
            var before = Pending;
            if (Interop.Libc.send(_socket.Fd, null, 0, Interop.Libc.MSG_DONTWAIT) >= 0)
            {
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Interop.Libc.EINTR || (errno == Interop.Libc.EAGAIN && Pending < before))
            {
                continue;
            }
            if (errno is not (Interop.Libc.EAGAIN or Interop.Libc.EBUSY or Interop.Libc.ENOBUFS))
            {
                // ENETDOWN, ENXIO: the frames wait on the ring, which fills, and what comes next counts as xsk_tx_ring_full.
                _wakeupErrors++;
            }
            return;
        }
    }
}
