using System.Net.Sockets;
using static Interop.Libc;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// Asks the kernel for the MTU of the route to a downstream: a UDP socket connected to it (connect routes, it sends
/// nothing) reports the route's MTU in IP_MTU, which already takes the device, a route's <c>mtu</c> and a learnt
/// path MTU into account. One socket per sender, connected again for each question; asked only for datagrams that
/// may not fit, so the common small datagram costs nothing here.
/// </summary>
internal sealed class RouteMtu : IDisposable
{
    /// <summary>What a destination without a route answers: no limit here, so the send itself fails and is counted.</summary>
    public const int Unknown = ushort.MaxValue;

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public int Of(sockaddr_in destination)
    {
        try
        {
            _socket.Connect(destination.ToEndPoint());
            Span<byte> mtu = stackalloc byte[sizeof(int)];
            _socket.GetRawSocketOption(SOL_IP, IP_MTU, mtu);
            return BitConverter.ToInt32(mtu);
        }
        catch (SocketException)
        {
            return Unknown;
        }
    }

    public void Dispose() => _socket.Dispose();
}
