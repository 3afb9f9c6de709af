using System.Net.Sockets;

namespace UdpFanout.Logging;

/// <summary>The datagram socket to journald; a record that cannot be delivered is written to stderr instead.</summary>
internal sealed class JournalSocket(string path) : IDisposable
{
    public const string DefaultPath = "/run/systemd/journal/socket";

    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly UnixDomainSocketEndPoint _endpoint = new(path);

    public void Send(JournalRecord record)
    {
        try
        {
            _socket.SendTo(record.Bytes, SocketFlags.None, _endpoint);
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"udp-fanout: journald refused a log record ({e.SocketErrorCode}): {System.Text.Encoding.UTF8.GetString(record.Bytes)}");
        }
    }

    public void Dispose() => _socket.Dispose();
}
