using System.Runtime.InteropServices;
using static Interop.Libc;
using static Interop.Xdp;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// An AF_XDP socket bound to one RX queue, with its own UMEM: every frame starts in the fill ring, the kernel
/// moves received ones to the RX ring, and the forwarder hands each back to the fill ring once sent, either
/// at once (sent with sendmmsg, which copied it) or, when it went out on the TX ring, once the kernel reports it
/// in the completion ring. So a frame is always in exactly one of: fill, RX, the forwarder's batch, TX, completion.
/// The UMEM lives in a memfd (with an <see cref="XskRecord"/> in the page after it), so that under systemd the
/// socket and the memfd can wait in the file descriptor store while no process runs, with the frames their rings
/// hold, and the next process maps the same rings and the same pinned pages again (<see cref="Adopt"/>).
/// </summary>
internal sealed unsafe partial class XskSocket : IDisposable
{
    /// <summary>How long a queue that a closed socket of ours held may stay busy before the bind gives up.</summary>
    private const int QueueReleaseMilliseconds = 2000;

    // The RX ring is the only buffer between the kernel and the forwarder (no socket buffer in this mode), so it
    // is sized for bursts: 8192 frames are 4 ms at 2 M/s. Every frame fits in the fill ring at once, so returning
    // frames never finds it full. The TX ring holds a few batches; the completion ring as many as the TX ring, so
    // the kernel never holds a sent frame back for want of a completion slot. With RX, TX and completion full, a
    // quarter of the frames is still in the fill ring.
    public const uint FrameCount = 16384;
    private const uint RxRingSize = 8192;
    public const uint TxRingSize = 2048;
    private const uint CompletionRingSize = TxRingSize;

    /// <summary>The page after the UMEM in the memfd, for the <see cref="XskRecord"/>; not registered with the kernel.</summary>
    private const int RecordBytes = 4096;

    private readonly nint _memory;
    private readonly nuint _memoryLength;
    private readonly XskRecord* _record;
    // XDP_STATISTICS count from the socket's creation; a socket taken over reports only what happened since.
    private readonly xdp_statistics _baseline;

    private XskSocket(int fd, int umemFd, int frameSize, nint memory, XskRing fill, XskRing completion, XskRing rx, XskRing tx, bool zeroCopy)
    {
        Fd = fd;
        UmemFd = umemFd;
        FrameSize = frameSize;
        _memory = memory;
        _memoryLength = MemoryLength(frameSize);
        _record = (XskRecord*)(memory + (nint)UmemLength(frameSize));
        Fill = fill;
        Completion = completion;
        Rx = rx;
        Tx = tx;
        ZeroCopy = zeroCopy;
        _baseline = RawStatistics();
    }

    public int Fd { get; }

    /// <summary>The memfd that holds the UMEM and the <see cref="XskRecord"/>.</summary>
    public int UmemFd { get; }

    /// <summary>The UMEM chunk size, a power of two: a frame's chunk is its address with the low bits cleared.</summary>
    public int FrameSize { get; }

    public XskRing Fill { get; }

    public XskRing Rx { get; }

    /// <summary>Frames rewritten in place for the listener's own segment, for the kernel (or the NIC) to send.</summary>
    public XskRing Tx { get; }

    /// <summary>The frames the kernel has sent from the TX ring, back in the forwarder's hands.</summary>
    public XskRing Completion { get; }

    public bool ZeroCopy { get; }

    public byte* Frame(ulong address) => (byte*)_memory + address;

    /// <summary>
    /// Records that the RX frames before <paramref name="rxIndex"/> are being sent: called before a batch goes out,
    /// so that a process killed in the middle of it is not followed by one that sends the batch again.
    /// </summary>
    public void MarkTaken(uint rxIndex) => Volatile.Write(ref _record->Taken, rxIndex);

    /// <summary>The id of the XSKMAP the socket was last put in (by this process or the one before), 0 for none.</summary>
    public uint XskMapId => Volatile.Read(ref _record->XskMapId);

    /// <summary>
    /// Records that the socket goes into XSKMAP <paramref name="mapId"/>: called before the insert, so that a record
    /// never lacks a map the socket is in (one it names without holding the socket is harmless: its entry is gone).
    /// </summary>
    public void MarkInserted(uint mapId) => Volatile.Write(ref _record->XskMapId, mapId);

    /// <summary>
    /// Opens a socket on <paramref name="queue"/> with UMEM frames of <paramref name="frameSize"/> bytes (see
    /// <see cref="UdpFanout.Model.UmemFrameSize"/>); zero-copy when the driver can, else copy mode.
    /// </summary>
    public static XskSocket Open(int ifindex, int queue, int frameSize)
    {
        var fd = socket(AF_XDP, SOCK_RAW, 0);
        if (fd < 0)
        {
            throw Failure("cannot create an AF_XDP socket", "the kernel needs CONFIG_XDP_SOCKETS and the process CAP_NET_RAW");
        }
        var umemFd = -1;
        nint memory = 0;
        try
        {
            umemFd = memfd_create("udp-fanout-umem", MFD_CLOEXEC);
            if (umemFd < 0)
            {
                throw Failure("cannot create the UMEM's memfd", "");
            }
            RandomAccess.SetLength(new Microsoft.Win32.SafeHandles.SafeFileHandle(umemFd, ownsHandle: false), (long)MemoryLength(frameSize));
            memory = Map(umemFd, frameSize);
            var reg = new xdp_umem_reg { addr = (ulong)memory, len = UmemLength(frameSize), chunk_size = (uint)frameSize };
            SetOption(fd, XDP_UMEM_REG, &reg, (uint)sizeof(xdp_umem_reg), "register UMEM",
                "UMEM is locked memory: raise RLIMIT_MEMLOCK (LimitMEMLOCK=infinity, or memlock: unlimited in the config) or grant CAP_IPC_LOCK");
            var fillSize = FrameCount;
            var completionSize = CompletionRingSize;
            var rxSize = RxRingSize;
            var txSize = TxRingSize;
            SetOption(fd, XDP_UMEM_FILL_RING, &fillSize, sizeof(uint), "size the fill ring", "");
            SetOption(fd, XDP_UMEM_COMPLETION_RING, &completionSize, sizeof(uint), "size the completion ring", "");
            SetOption(fd, XDP_RX_RING, &rxSize, sizeof(uint), "size the RX ring", "");
            SetOption(fd, XDP_TX_RING, &txSize, sizeof(uint), "size the TX ring", "");
            var (fill, completion, rx, tx) = MapRings(fd);
            for (var frame = 0u; frame < FrameCount; frame++)
            {
                ((ulong*)fill.Descriptors)[fill.Slot(fill.Reserve())] = frame * (ulong)frameSize;
            }
            fill.Submit();
            var zeroCopy = Bind(fd, ifindex, queue);
            *(XskRecord*)(memory + (nint)UmemLength(frameSize)) = Describe(ifindex, queue, frameSize);
            return new XskSocket(fd, umemFd, frameSize, memory, fill, completion, rx, tx, zeroCopy);
        }
        catch
        {
            close(fd);
            if (memory != 0)
            {
                munmap(memory, MemoryLength(frameSize));
            }
            if (umemFd >= 0)
            {
                close(umemFd);
            }
            throw;
        }
    }

    /// <summary>The socket's XDP_STATISTICS since this process opened or took it over.</summary>
    public xdp_statistics Statistics()
    {
        var now = RawStatistics();
        return new xdp_statistics
        {
            rx_dropped = now.rx_dropped - _baseline.rx_dropped,
            rx_invalid_descs = now.rx_invalid_descs - _baseline.rx_invalid_descs,
            tx_invalid_descs = now.tx_invalid_descs - _baseline.tx_invalid_descs,
            rx_ring_full = now.rx_ring_full - _baseline.rx_ring_full,
            rx_fill_ring_empty_descs = now.rx_fill_ring_empty_descs - _baseline.rx_fill_ring_empty_descs,
            tx_ring_empty_descs = now.tx_ring_empty_descs - _baseline.tx_ring_empty_descs,
        };
    }

    private xdp_statistics RawStatistics()
    {
        xdp_statistics stats;
        var length = (uint)sizeof(xdp_statistics);
        // Zero on failure: the baseline too, so the difference never underflows.
        return getsockopt(Fd, SOL_XDP, XDP_STATISTICS, &stats, &length) == 0 ? stats : _baseline;
    }

    /// <summary>Tells the kernel to look at the fill ring again, when it asked to be told (need_wakeup).</summary>
    public void WakeIfNeeded()
    {
        if (Fill.NeedsWakeup)
        {
            recvfrom(Fd, null, 0, Interop.Libc.MSG_DONTWAIT, null, null);
        }
    }

    /// <summary>Closes the socket and the memfd: the kernel frees both, and the UMEM with them, once no one else holds them.</summary>
    public void Dispose()
    {
        Unmap();
        close(Fd);
        close(UmemFd);
    }

    /// <summary>
    /// Lets go of the rings and the UMEM mapping but leaves <see cref="Fd"/> and <see cref="UmemFd"/> open, for
    /// systemd's store to keep (the caller owns them from now on).
    /// </summary>
    public void Unmap()
    {
        Rx.Dispose();
        Tx.Dispose();
        Fill.Dispose();
        Completion.Dispose();
        munmap(_memory, _memoryLength);
    }

    private static nuint UmemLength(int frameSize) => (nuint)(FrameCount * (ulong)frameSize);

    private static nuint MemoryLength(int frameSize) => UmemLength(frameSize) + RecordBytes;

    private static XskRecord Describe(int ifindex, int queue, int frameSize) => new()
    {
        Magic = XskRecord.CurrentMagic,
        Ifindex = ifindex,
        Queue = queue,
        FrameSize = frameSize,
        FrameCount = FrameCount,
        FillSize = FrameCount,
        CompletionSize = CompletionRingSize,
        RxSize = RxRingSize,
        TxSize = TxRingSize,
    };

    /// <summary>The memfd's UMEM and record, shared: the same pages the kernel pinned at XDP_UMEM_REG, in every process that maps them.</summary>
    private static nint Map(int umemFd, int frameSize)
    {
        var memory = mmap(0, MemoryLength(frameSize), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, umemFd, 0);
        if (memory == MAP_FAILED)
        {
            throw Failure("cannot map the UMEM", "free memory");
        }
        return memory;
    }

    private static (XskRing Fill, XskRing Completion, XskRing Rx, XskRing Tx) MapRings(int fd)
    {
        xdp_mmap_offsets offsets;
        var length = (uint)sizeof(xdp_mmap_offsets);
        if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &offsets, &length) != 0)
        {
            throw Failure("cannot read the AF_XDP ring offsets", "");
        }
        var mapped = new List<XskRing>();
        try
        {
            // Once bound, a socket's rings can be mapped again (kernels since 2023; checked on 6.18): how a socket kept
            // in systemd's store resumes. A kernel that refuses makes Adopt report the socket as not fitting.
            mapped.Add(new XskRing(fd, XDP_UMEM_PGOFF_FILL_RING, offsets.fr, FrameCount, sizeof(ulong), producerSide: true));
            mapped.Add(new XskRing(fd, XDP_UMEM_PGOFF_COMPLETION_RING, offsets.cr, CompletionRingSize, sizeof(ulong), producerSide: false));
            mapped.Add(new XskRing(fd, XDP_PGOFF_RX_RING, offsets.rx, RxRingSize, sizeof(xdp_desc), producerSide: false));
            mapped.Add(new XskRing(fd, XDP_PGOFF_TX_RING, offsets.tx, TxRingSize, sizeof(xdp_desc), producerSide: true));
            return (mapped[0], mapped[1], mapped[2], mapped[3]);
        }
        catch
        {
            mapped.ForEach(r => r.Dispose());
            throw;
        }
    }

    private static bool Bind(int fd, int ifindex, int queue)
    {
        // A socket of ours that just closed on the same queue (a listener restarted by a reload outside systemd, a
        // kept socket that no longer fit) holds the queue until the kernel releases its buffer pool, which it defers
        // past an RCU grace period to a work item that takes the RTNL lock: up to a few hundred ms under traffic
        // here, and no shorter when the socket leaves the XSKMAP before it closes, nor when the interface's XDP link
        // stays attached across the restart. EBUSY that long is not a conflict.
        var deadline = Environment.TickCount64 + QueueReleaseMilliseconds;
        while (true)
        {
            foreach (var (mode, zeroCopy) in new[] { (XDP_ZEROCOPY, true), (XDP_COPY, false) })
            {
                var address = new sockaddr_xdp
                {
                    sxdp_family = AF_XDP,
                    sxdp_flags = (ushort)(mode | XDP_USE_NEED_WAKEUP),
                    sxdp_ifindex = (uint)ifindex,
                    sxdp_queue_id = (uint)queue,
                };
                if (bind(fd, &address, (uint)sizeof(sockaddr_xdp)) == 0)
                {
                    return zeroCopy;
                }
            }
            if (Marshal.GetLastPInvokeError() != EBUSY || Environment.TickCount64 > deadline)
            {
                throw Failure($"cannot bind an AF_XDP socket to queue {queue}", "check that the interface has that queue and that no other AF_XDP program uses it");
            }
            Thread.Sleep(10);
        }
    }

    private static void SetOption(int fd, int option, void* value, uint length, string what, string hint)
    {
        if (setsockopt(fd, SOL_XDP, option, value, length) != 0)
        {
            throw Failure($"cannot {what}", hint);
        }
    }

    private static ForwarderException Failure(string what, string hint)
    {
        var error = StrError(Marshal.GetLastPInvokeError());
        return new ForwarderException(hint.Length == 0 ? $"{what}: {error}" : $"{what}: {error} ({hint})");
    }
}
