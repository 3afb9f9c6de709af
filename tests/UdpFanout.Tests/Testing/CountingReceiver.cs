using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// A UDP receiver on loopback that checks each datagram against <see cref="NumberedPayload"/> and records which
/// sequence numbers arrived, so tests can prove exactly-once, byte-exact delivery.
/// </summary>
internal sealed class CountingReceiver : IDisposable
{
    private readonly Socket _socket;
    private readonly Thread _thread;
    private readonly List<long> _sequences = [];
    private readonly Lock _gate = new();
    private readonly HashSet<SocketAddress> _sources = [];
    private int _corrupt;

    public CountingReceiver(IPAddress? address = null, int port = 0)
    {
        _socket = new Socket(address?.AddressFamily ?? AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        // SO_RCVBUFFORCE (tests run as root): SO_RCVBUF would be capped at net.core.rmem_max, 4 MiB on these machines,
        // and a receiver that drops what a proxy drains after a restart would lose the test's datagrams, not the proxy.
        _socket.SetRawSocketOption(global::Interop.Libc.SOL_SOCKET, global::Interop.Libc.SO_RCVBUFFORCE, BitConverter.GetBytes(16 << 20));
        _socket.Bind(new IPEndPoint(address ?? IPAddress.Loopback, port));
        _thread = new Thread(Run) { IsBackground = true, Name = "receiver" };
        _thread.Start();
    }

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

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _sequences.Count;
            }
        }
    }

    /// <summary>Every distinct sender address:port seen.</summary>
    public IReadOnlyList<IPEndPoint> Sources
    {
        get
        {
            lock (_gate)
            {
                return _sources.Select(a => (IPEndPoint)new IPEndPoint(a.Family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0).Create(a)).ToArray();
            }
        }
    }

    /// <summary>Datagrams whose bytes did not match what their sequence number says they must be.</summary>
    public int Corrupt => Volatile.Read(ref _corrupt);

    public void Dispose()
    {
        _socket.Dispose();
        _thread.Join();
    }

    private void Run()
    {
        var buffer = new byte[65536];
        // Reused for every datagram, so receiving allocates nothing (the userspace mode's allocation test runs beside it).
        var source = new SocketAddress(_socket.AddressFamily);
        try
        {
            while (true)
            {
                var length = _socket.ReceiveFrom(buffer, SocketFlags.None, source);
                if (NumberedPayload.TryRead(buffer.AsSpan(0, length), out var sequence))
                {
                    lock (_gate)
                    {
                        _sequences.Add(sequence);
                        if (!_sources.Contains(source))
                        {
                            var copy = new SocketAddress(source.Family);
                            source.Buffer.CopyTo(copy.Buffer);
                            _sources.Add(copy);
                        }
                    }
                }
                else
                {
                    Interlocked.Increment(ref _corrupt);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Dispose closes the socket to end the loop.
        }
    }
}
