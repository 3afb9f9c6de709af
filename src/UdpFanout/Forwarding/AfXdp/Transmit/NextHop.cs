namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>
/// Where the kernel's route to a downstream leads: <see cref="OnSegment"/> when it is a unicast route out of the
/// listener's interface, then <see cref="Address"/> (network byte order) is the gateway's, or the downstream's own
/// for a directly connected one: the neighbour whose MAC a frame to it carries.
/// </summary>
internal readonly record struct NextHop(bool OnSegment, uint Address)
{
    public static readonly NextHop Elsewhere = new(false, 0);
}
