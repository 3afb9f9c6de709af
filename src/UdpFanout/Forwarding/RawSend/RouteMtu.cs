using System.Net.Sockets;
using static Interop.Libc;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// Asks the kernel for the MTU of the route to a downstream: a UDP socket connected to it (connect routes, it sends
/// nothing) reports the route's MTU in IP_MTU or IPV6_MTU, which already takes the device, a route's <c>mtu</c> and a
/// learnt path MTU into account. One socket per family and sender, opened when first needed and connected again for
/// each question; asked only for datagrams that may not fit, so the common small datagram costs nothing here.
/// </summary>
internal sealed class RouteMtu : IDisposable
{
    /// <summary>What a destination without a route answers: no limit here, so the send itself fails and is counted.</summary>
    public const int Unknown = ushort.MaxValue;

    private Socket? _v4;
    private Socket? _v6;

    public int Of(in sockaddr_inet destination)
    {
        try
        {
            var v6 = destination.family == AF_INET6;
            var socket = v6
                ? _v6 ??= new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp)
                : _v4 ??= new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(destination.ToEndPoint());
            Span<byte> mtu = stackalloc byte[sizeof(int)];
            socket.GetRawSocketOption(v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_MTU : IP_MTU, mtu);
            return BitConverter.ToInt32(mtu);
        }
        catch (SocketException)
        {
            return Unknown;
        }
    }

    public void Dispose()
    {
        _v4?.Dispose();
        _v6?.Dispose();
    }
}
