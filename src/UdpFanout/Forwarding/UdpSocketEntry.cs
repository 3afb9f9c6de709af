using System.Net;

namespace UdpFanout.Forwarding;

/// <summary>
/// One UDP socket of this network namespace as <c>/proc/net/udp[6]</c> lists it: the IPv4 address and port it
/// receives on (<see cref="IPAddress.Any"/> also for an IPv6 socket on :: that takes IPv4 too) and its inode,
/// which names it in every process's <c>/proc/PID/fd</c>.
/// </summary>
internal sealed record UdpSocketEntry(IPEndPoint Local, long Inode)
{
    /// <summary>Whether this socket receives datagrams sent to <paramref name="bind"/> too.</summary>
    public bool Overlaps(IPEndPoint bind) => Configuration.Binds.Overlap(Local, bind);
}
