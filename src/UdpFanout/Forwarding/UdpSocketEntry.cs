using System.Net;

namespace UdpFanout.Forwarding;

/// <summary>
/// One UDP socket of this network namespace as <c>/proc/net/udp[6]</c> lists it: the address and port it receives
/// on (an IPv4-mapped one as the IPv4 address it is; [::] as taking both families, as <see cref="Configuration.Binds"/>
/// counts it) and its inode, which names it in every process's <c>/proc/PID/fd</c>.
/// </summary>
internal sealed record UdpSocketEntry(IPEndPoint Local, long Inode)
{
    /// <summary>Whether this socket receives datagrams sent to <paramref name="bind"/> too.</summary>
    public bool Overlaps(IPEndPoint bind) => Configuration.Binds.Overlap(Local, bind);
}
