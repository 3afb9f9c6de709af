namespace UdpFanout.Model;

/// <summary>
/// The UMEM frame (chunk) size an interface's MTU needs. The kernel writes a received frame
/// <c>XDP_PACKET_HEADROOM</c> bytes into its chunk and drops one that does not fit in the rest (counted only in
/// XDP_STATISTICS' rx_dropped), so a 2,048-byte chunk holds frames of an MTU up to 1,774 and a page-sized
/// 4,096-byte chunk, the largest the kernel takes for an aligned UMEM, up to 3,822. Here, in Model, because both the
/// af_xdp start and <c>check</c> (a <c>tuning: mtu</c> above the limit) refuse by it.
/// </summary>
internal static class UmemFrameSize
{
    /// <summary>The kernel's smallest chunk (XDP_UMEM_MIN_CHUNK_SIZE); half the memory of a page per frame.</summary>
    public const int Small = 2048;

    /// <summary>One page: the largest chunk of an aligned UMEM.</summary>
    public const int Large = 4096;

    /// <summary>XDP_PACKET_HEADROOM: where the kernel places a frame in its chunk.</summary>
    private const int KernelHeadroom = 256;

    /// <summary>What a frame carries beyond its MTU: Ethernet and the one VLAN tag the frame parser accepts.</summary>
    private const int LinkHeaders = 14 + 4;

    /// <summary>The largest MTU whose frames fit in a UMEM frame.</summary>
    public const int MaxMtu = Large - KernelHeadroom - LinkHeaders;

    /// <summary>Why <see cref="MaxMtu"/> is the limit, for the messages that refuse an MTU above it.</summary>
    public static string MaxMtuReason =>
        $"af_xdp receives frames of an MTU up to {MaxMtu} (a frame must fit in one {Large}-byte UMEM frame after the kernel's {KernelHeadroom} bytes of headroom)";

    /// <summary>The smallest frame size that holds a whole frame of <paramref name="mtu"/>; null above <see cref="MaxMtu"/>.</summary>
    public static int? For(int mtu) =>
        mtu <= Small - KernelHeadroom - LinkHeaders ? Small
        : mtu <= MaxMtu ? Large
        : null;
}
