using System.Runtime.InteropServices;
using static Interop.Libc;
using static Interop.Xdp;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// An AF_XDP socket bound to one RX queue, with its own UMEM: every frame starts in the fill ring, the kernel
/// moves received ones to the RX ring, and the forwarder hands each back to the fill ring once sent, either
/// at once (sent with sendmmsg, which copied it) or, when it went out on the TX ring, once the kernel reports it
/// in the completion ring. So a frame is always in exactly one of: fill, RX, the forwarder's batch, TX, completion.
/// </summary>
internal sealed unsafe class XskSocket : IDisposable
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

    private readonly nint _umem;
    private readonly nuint _umemLength;

    private XskSocket(int fd, int frameSize, nint umem, nuint umemLength, XskRing fill, XskRing completion, XskRing rx, XskRing tx, bool zeroCopy)
    {
        Fd = fd;
        FrameSize = frameSize;
        _umem = umem;
        _umemLength = umemLength;
        Fill = fill;
        Completion = completion;
        Rx = rx;
        Tx = tx;
        ZeroCopy = zeroCopy;
    }

    public int Fd { get; }

    /// <summary>The UMEM chunk size, a power of two: a frame's chunk is its address with the low bits cleared.</summary>
    public int FrameSize { get; }

    public XskRing Fill { get; }

    public XskRing Rx { get; }

    /// <summary>Frames rewritten in place for the listener's own segment, for the kernel (or the NIC) to send.</summary>
    public XskRing Tx { get; }

    /// <summary>The frames the kernel has sent from the TX ring, back in the forwarder's hands.</summary>
    public XskRing Completion { get; }

    public bool ZeroCopy { get; }

    public byte* Frame(ulong address) => (byte*)_umem + address;

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
        nint umem = 0;
        var umemLength = (nuint)(FrameCount * (ulong)frameSize);
        try
        {
            umem = mmap(0, umemLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (umem == MAP_FAILED)
            {
                throw Failure("cannot allocate UMEM", "free memory");
            }
            var reg = new xdp_umem_reg { addr = (ulong)umem, len = umemLength, chunk_size = (uint)frameSize };
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
            xdp_mmap_offsets offsets;
            var length = (uint)sizeof(xdp_mmap_offsets);
            if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &offsets, &length) != 0)
            {
                throw Failure("cannot read the AF_XDP ring offsets", "");
            }
            var fill = new XskRing(fd, XDP_UMEM_PGOFF_FILL_RING, offsets.fr, fillSize, sizeof(ulong), producerSide: true);
            var completion = new XskRing(fd, XDP_UMEM_PGOFF_COMPLETION_RING, offsets.cr, completionSize, sizeof(ulong), producerSide: false);
            var rx = new XskRing(fd, XDP_PGOFF_RX_RING, offsets.rx, rxSize, sizeof(xdp_desc), producerSide: false);
            var tx = new XskRing(fd, XDP_PGOFF_TX_RING, offsets.tx, txSize, sizeof(xdp_desc), producerSide: true);
            for (var frame = 0u; frame < FrameCount; frame++)
            {
                ((ulong*)fill.Descriptors)[fill.Slot(fill.Reserve())] = frame * (ulong)frameSize;
            }
            fill.Submit();
            var zeroCopy = Bind(fd, ifindex, queue);
            return new XskSocket(fd, frameSize, umem, umemLength, fill, completion, rx, tx, zeroCopy);
        }
        catch
        {
            close(fd);
            if (umem != 0 && umem != MAP_FAILED)
            {
                munmap(umem, umemLength);
            }
            throw;
        }
    }

    public xdp_statistics Statistics()
    {
        xdp_statistics stats;
        var length = (uint)sizeof(xdp_statistics);
        return getsockopt(Fd, SOL_XDP, XDP_STATISTICS, &stats, &length) == 0 ? stats : default;
    }

    /// <summary>Tells the kernel to look at the fill ring again, when it asked to be told (need_wakeup).</summary>
    public void WakeIfNeeded()
    {
        if (Fill.NeedsWakeup)
        {
            recvfrom(Fd, null, 0, Interop.Libc.MSG_DONTWAIT, null, null);
        }
    }

    public void Dispose()
    {
        close(Fd);
        Rx.Dispose();
        Tx.Dispose();
        Fill.Dispose();
        Completion.Dispose();
        munmap(_umem, _umemLength);
    }

    private static bool Bind(int fd, int ifindex, int queue)
    {
        // A socket of this process that just closed on the same queue (a listener restarted by a reload) holds the
        // queue until the kernel releases its buffer pool, which it defers past an RCU grace period to a work item
        // that takes the RTNL lock: up to a few hundred ms under traffic here, and no shorter when the socket leaves
        // the XSKMAP before it closes, nor when the interface's XDP link stays attached across the restart
        // (AfXdpForwarderRestartTests fail without this wait). EBUSY that long is not a conflict.
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
