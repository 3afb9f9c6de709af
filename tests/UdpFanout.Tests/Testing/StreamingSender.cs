using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Sends numbered 64-byte datagrams from one socket, flat out, until stopped. Each number is claimed before its
/// datagram is sent, so every datagram numbered at or above <see cref="Claimed"/>, read after some event, left after
/// that event (counting after the send would let one datagram sent just before look like it was sent after).
/// </summary>
internal sealed class StreamingSender : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sending;
    private long _next;

    public StreamingSender(Socket socket, IPEndPoint target)
    {
        _sending = Task.Run(() =>
        {
            var payload = new byte[64];
            while (!_stop.IsCancellationRequested)
            {
                var seq = _next;
                NumberedPayload.Write(payload, seq);
                Volatile.Write(ref _next, seq + 1);
                socket.SendTo(payload, SocketFlags.None, target);
                if (seq % 32 == 31)
                {
                    // Lets the receiving side keep up on a 2-core machine.
                    Thread.Sleep(0);
                }
            }
        });
    }

    /// <summary>How many numbers have been claimed: the next datagram sent carries this one or higher.</summary>
    public long Claimed => Volatile.Read(ref _next);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sending;
        _stop.Dispose();
    }
}
