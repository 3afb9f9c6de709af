using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Configuration;

/// <summary>When two UDP binds take the same datagrams, for listeners of one config and for sockets of other processes alike.</summary>
internal static class Binds
{
    /// <summary>
    /// The same port, and the same address or a wildcard on either side that receives on the other's address:
    /// 0.0.0.0 on every IPv4 address, [::] on every address of both families (a dual-stack socket, as the
    /// listeners open it and as Linux opens one by default).
    /// </summary>
    public static bool Overlap(IPEndPoint a, IPEndPoint b) =>
        a.Port == b.Port && (Receives(a.Address, b.Address) || Receives(b.Address, a.Address));

    /// <summary>Whether a socket bound to <paramref name="bind"/> receives datagrams sent to <paramref name="address"/>.</summary>
    public static bool Receives(IPAddress bind, IPAddress address) =>
        bind.Equals(address)
        || bind.Equals(IPAddress.IPv6Any)
        || bind.Equals(IPAddress.Any) && address.AddressFamily == AddressFamily.InterNetwork;

    /// <summary>Whether <paramref name="address"/> is a wildcard (0.0.0.0 or [::]) that receives on every local address.</summary>
    public static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
}
