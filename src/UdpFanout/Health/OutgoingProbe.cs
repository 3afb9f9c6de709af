using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>One probe in a send batch: where it goes, the token it carries, and whether the kernel took it.</summary>
internal struct OutgoingProbe
{
    public sockaddr_inet Destination;
    public UInt128 Token;
    /// <summary>ICMP echo's sequence number; UDP echo leaves it 0.</summary>
    public ushort Sequence;
    /// <summary>Set by <see cref="ProbeSocket.Send"/>: false when the kernel refused it (no route, a full buffer).</summary>
    public bool Sent;
}
