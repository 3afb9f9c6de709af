using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// A well-formed reply as it arrived: its token and where it came from. It counts only when the token is one in
/// flight and <see cref="ProbeSocket.Matches"/> says it came from where that probe went.
/// </summary>
internal struct ProbeReply
{
    public UInt128 Token;
    /// <summary>The source's family, address and port, as recvmmsg gave them; ICMP leaves the port 0.</summary>
    public sockaddr_inet From;
    public ushort Sequence;
}
