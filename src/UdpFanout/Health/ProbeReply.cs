namespace UdpFanout.Health;

/// <summary>
/// A well-formed reply as it arrived: its token and where it came from. It counts only when the token is one in
/// flight and <see cref="ProbeSocket.Matches"/> says it came from where that probe went.
/// </summary>
internal struct ProbeReply
{
    public UInt128 Token;
    /// <summary>Source address and port in network byte order, as in <c>sockaddr_in</c>; ICMP leaves the port 0.</summary>
    public uint Address;
    public ushort Port;
    public ushort Sequence;
}
