using System.Net;

namespace UdpFanout.Configuration;

/// <summary>When two UDP binds take the same datagrams, for listeners of one config and for sockets of other processes alike.</summary>
internal static class Binds
{
    /// <summary>The same port, and the same address or 0.0.0.0 on either side (which receives on every address).</summary>
    public static bool Overlap(IPEndPoint a, IPEndPoint b) =>
        a.Port == b.Port && (a.Address.Equals(b.Address) || a.Address.Equals(IPAddress.Any) || b.Address.Equals(IPAddress.Any));
}
