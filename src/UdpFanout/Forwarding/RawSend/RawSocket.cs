using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// The socket a source-keeping sender sends from: AF_INET or AF_INET6, SOCK_RAW, IPPROTO_RAW, which implies header
/// inclusion (IP_HDRINCL, IPV6_HDRINCL), so the kernel routes each packet by its destination and sends the IP header
/// as written, the client's source address included. An IPPROTO_RAW socket never receives anything, so nothing addressed to the proxy can enter through it.
/// Opening it needs CAP_NET_RAW; a listener without <c>preserve_source</c> never opens one.
/// </summary>
internal sealed class RawSocket : IDisposable
{
    private readonly Socket _socket;

    private RawSocket(Socket socket)
    {
        _socket = socket;
        Fd = (int)socket.Handle;
    }

    public int Fd { get; }

    public static RawSocket Open(int sendBufferBytes, ILogger logger, string listener) =>
        Open(AddressFamily.InterNetwork, sendBufferBytes, logger, listener);

    public static RawSocket Open(AddressFamily family, int sendBufferBytes, ILogger logger, string listener)
    {
        Socket socket;
        try
        {
            socket = new Socket(family, SocketType.Raw, ProtocolType.Raw);
        }
        catch (SocketException e)
        {
            var hint = e.SocketErrorCode == SocketError.AccessDenied
                ? "it needs CAP_NET_RAW: run as root or grant the capability (the udp-fanout@ unit does), or set preserve_source: false"
                : "set preserve_source: false to send from the proxy's address instead";
            throw new ForwarderException($"listener '{listener}': preserve_source: cannot open the raw socket that sends with the client's address ({e.Message}); {hint}", e);
        }
        try
        {
            SocketBuffer.Set(socket, receive: false, sendBufferBytes, logger, listener);
            return new RawSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _socket.Dispose();
}
