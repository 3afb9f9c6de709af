using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// A downstream that sends every datagram straight back to its sender, as a UDP echo service on the data port
/// would: what a proxy must never take in again and forward.
/// </summary>
internal sealed class UdpEcho : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Thread _thread;
    private long _echoed;

    public UdpEcho(IPAddress? address = null, int port = 0)
    {
        _socket.ReceiveBufferSize = 16 << 20;
        _socket.Bind(new IPEndPoint(address ?? IPAddress.Loopback, port));
        _thread = new Thread(Run) { IsBackground = true, Name = "echo" };
        _thread.Start();
    }

    public IPEndPoint Endpoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Datagrams received and sent back.</summary>
    public long Echoed => Volatile.Read(ref _echoed);

    public void Dispose()
    {
        _socket.Dispose();
        _thread.Join();
    }

    private void Run()
    {
        var buffer = new byte[65536];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var length = _socket.ReceiveFrom(buffer, ref from);
                _socket.SendTo(buffer.AsSpan(0, length), from);
                Interlocked.Increment(ref _echoed);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Dispose ends the loop.
        }
    }
}
