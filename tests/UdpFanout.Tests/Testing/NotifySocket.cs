using System.Net.Sockets;
using System.Text;

namespace UdpFanout.Tests.Testing;

/// <summary>Plays systemd's side of sd_notify: a datagram socket whose path goes into NOTIFY_SOCKET.</summary>
internal sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public NotifySocket()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"notify-{Guid.NewGuid():N}.sock");
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    public string Path { get; }

    /// <summary>Waits for a message containing <paramref name="state"/> (e.g. "READY=1") and returns it.</summary>
    public string WaitFor(string state, double timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        var buffer = new byte[4096];
        while (DateTime.UtcNow < deadline)
        {
            _socket.ReceiveTimeout = (int)Math.Max(1, (deadline - DateTime.UtcNow).TotalMilliseconds);
            try
            {
                var message = Encoding.UTF8.GetString(buffer, 0, _socket.Receive(buffer));
                if (message.Split('\n').Contains(state))
                {
                    return message;
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
            {
                break;
            }
        }
        throw new TimeoutException($"no {state} on the notify socket within {timeoutSeconds} s");
    }

    public void Dispose()
    {
        _socket.Dispose();
        File.Delete(Path);
    }
}
