using System.Net.Sockets;

namespace UdpFanout.Forwarding;

/// <summary>Opens the UDP sockets of a listener's data path, of either family, with one error for a family the host lacks.</summary>
internal static class UdpSockets
{
    /// <summary>A UDP socket of <paramref name="family"/>; throws <see cref="ForwarderException"/> (its inner SocketException kept) when the kernel refuses one.</summary>
    public static Socket Open(AddressFamily family, string listener)
    {
        try
        {
            return new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        }
        catch (SocketException e)
        {
            var hint = e.SocketErrorCode == SocketError.AddressFamilyNotSupported
                ? "this kernel has no IPv6 (booted with ipv6.disable=1?)"
                : "out of file descriptors or memory?";
            throw new ForwarderException($"listener '{listener}': cannot open a UDP socket of {(family == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4")}: {e.Message} ({hint})", e);
        }
    }
}
