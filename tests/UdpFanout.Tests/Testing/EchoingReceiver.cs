using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// A downstream that answers udp_echo health probes (16-byte tokens) while <see cref="Answering"/> and counts
/// the numbered datagrams forwarded to it.
/// </summary>
internal sealed class EchoingReceiver : IDisposable
{
    private readonly Socket _socket;
    private readonly Thread _thread;
    private readonly List<long> _sequences = [];
    private readonly Lock _gate = new();

    public EchoingReceiver(IPAddress? address = null, int port = 0)
    {
        _socket = new Socket(address?.AddressFamily ?? AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(address ?? IPAddress.Loopback, port));
        _thread = new Thread(Run) { IsBackground = true };
        _thread.Start();
    }

    public volatile bool Answering = true;

    public IPEndPoint Endpoint => (IPEndPoint)_socket.LocalEndPoint!;

    public IReadOnlyList<long> Sequences
    {
        get
        {
            lock (_gate)
            {
                return _sequences.ToArray();
            }
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _thread.Join();
    }

    private void Run()
    {
        var buffer = new byte[2048];
        EndPoint from = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var length = _socket.ReceiveFrom(buffer, ref from);
                if (length == 16)
                {
                    if (Answering)
                    {
                        _socket.SendTo(buffer.AsSpan(0, length), from);
                    }
                }
                else if (NumberedPayload.TryRead(buffer.AsSpan(0, length), out var sequence))
                {
                    lock (_gate)
                    {
                        _sequences.Add(sequence);
                    }
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Dispose ends the loop.
        }
    }
}
