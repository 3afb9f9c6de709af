using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace UdpFanout.Configuration;

/// <summary>
/// The addresses of this host, IPv4 and IPv6 (of the network namespace the daemon runs in): a datagram sent to one of them
/// never leaves the host. Some checks of a config need them (a listener on 0.0.0.0 receives on every one), so the
/// daemon reads them at start and on reload, and so does <c>check</c>; 127.0.0.0/8 and ::1 are local on every
/// host and known without them.
/// </summary>
internal sealed class HostAddresses(IReadOnlyList<HostAddress> addresses)
{
    /// <summary>For checks that must not depend on the host they run on: only loopback is known to be local.</summary>
    public static HostAddresses LoopbackOnly { get; } = new([]);

    public IReadOnlyList<HostAddress> Addresses { get; } = addresses;

    public static HostAddresses Read() => new(NetworkInterface.GetAllNetworkInterfaces()
        .SelectMany(nic => nic.GetIPProperties().UnicastAddresses
            .Where(a => a.Address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            .Select(a => new HostAddress(nic.Name, a.Address, a.PrefixLength)))
        .ToArray());

    /// <summary>127.0.0.0/8 and ::1.</summary>
    public static bool IsLoopback(IPAddress address) => IPAddress.IsLoopback(address);

    /// <summary>Whether a datagram to <paramref name="address"/> is delivered to this host itself.</summary>
    public bool IsLocal(IPAddress address) => IsLoopback(address) || Addresses.Any(a => a.Address.Equals(address));

    /// <summary>The host address whose subnet has <paramref name="address"/> as its directed broadcast, if any.</summary>
    public HostAddress? BroadcastOwner(IPAddress address) => Addresses.FirstOrDefault(a => address.Equals(a.Broadcast));
}
