using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Sends numbered datagrams from one source port in bursts, waiting after each burst until the proxy has taken
/// them in, so a test measures forwarding rather than loopback socket-buffer overflow. The socket may be given
/// (one made in a client network namespace); the sender owns it either way.
/// </summary>
internal sealed class PacedSender(Socket socket, IPEndPoint target, Func<long> receivedByProxy) : IDisposable
{
    private readonly Socket _socket = socket;

    public PacedSender(IPEndPoint target, Func<long> receivedByProxy)
        : this(new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp), target, receivedByProxy)
    {
    }

    public long Sent { get; private set; }

    public async Task SendAsync(long count, Func<long, int> lengthOf, int burst = 1000)
    {
        // The largest UDP payload of either family (IPv6's).
        var buffer = new byte[65527];
        var end = Sent + count;
        while (Sent < end)
        {
            var burstEnd = Math.Min(end, Sent + burst);
            for (; Sent < burstEnd; Sent++)
            {
                var payload = buffer.AsSpan(0, lengthOf(Sent));
                NumberedPayload.Write(payload, Sent);
                _socket.SendTo(payload, SocketFlags.None, target);
            }
            var expected = Sent;
            await Eventually.TrueAsync(() => receivedByProxy() >= expected, $"the proxy to receive {expected} datagrams");
        }
    }

    public void Dispose() => _socket.Dispose();
}
