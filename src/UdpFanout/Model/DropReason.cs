namespace UdpFanout.Model;

/// <summary>
/// Why a received datagram was not forwarded. Every mode counts its drops with these reasons, so
/// received = forwarded + the sum of these for every listener.
/// </summary>
internal enum DropReason
{
    /// <summary>The listener has no downstream at all.</summary>
    NoDownstream,
    /// <summary>Downstreams exist but health checks took every one out of the rotation.</summary>
    NoHealthyDownstream,
    /// <summary>Larger than max_packet_size; never forwarded cut.</summary>
    Truncated,
    /// <summary>The send would have blocked (EAGAIN/ENOBUFS): dropped, never queued.</summary>
    SendBufferFull,
    /// <summary>Any other send failure (unreachable, refused, ...).</summary>
    SendError,
    /// <summary>A frame whose headers do not parse (af_xdp).</summary>
    Malformed,
    /// <summary>The kernel has no route to the downstream (tc_ebpf).</summary>
    NoRoute,
    /// <summary>The kernel could not hand the packet to the egress device (tc_ebpf).</summary>
    RedirectFailed,
    /// <summary>The TTL would expire on the next hop: dropped as a router drops it, never sent on with a fresh one (tc_ebpf).</summary>
    TtlExpired,
    /// <summary>
    /// Sent on at XDP by tc_ebpf's XDP layer, then dropped by the egress device, which took fewer frames than the
    /// devmap handed it (a veth whose peer cannot receive XDP frames or is down, a frame over the peer's MTU, a full
    /// ring): the kernel reports these only in the tracepoint xdp:xdp_devmap_xmit (tc_ebpf).
    /// </summary>
    XdpTransmitFailed,
    /// <summary>
    /// Arrived while a listening socket's receive buffer was full, so the kernel dropped it before the daemon saw
    /// it (the socket's drop counter; userspace workers and the eBPF modes' fallback sockets).
    /// </summary>
    ReceiveBufferFull,
    /// <summary>The AF_XDP RX ring was full when the frame arrived (XDP_STATISTICS rx_ring_full; af_xdp).</summary>
    XskRxRingFull,
    /// <summary>
    /// The kernel dropped the frame for an AF_XDP socket for another reason: no free frame in the fill ring, a
    /// frame larger than a UMEM chunk, an invalid descriptor (XDP_STATISTICS rx_dropped and rx_invalid_descs; af_xdp).
    /// </summary>
    XskRxDropped,
    /// <summary>
    /// The AF_XDP TX ring had no free slot for a frame to a downstream on the listener's segment: dropped, never
    /// queued, as a full send buffer is (af_xdp).
    /// </summary>
    XskTxRingFull,
    /// <summary>
    /// In the batch a forwarding thread was working on when it failed (a bug; logged at err and counted in
    /// worker_restarts_total): the thread drops the batch and starts again.
    /// </summary>
    WorkerFailed,
}
