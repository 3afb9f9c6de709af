using System.Net.Sockets;
using System.Text;

namespace UdpFanout.Metrics;

/// <summary>
/// The text of one scrape on its way to the client, through one 64 KiB chunk kept for the next scrape. A scrape that
/// fits in the chunk is sent whole with its Content-Length; a longer one (10,000 downstreams are megabytes) is sent
/// chunk by chunk as it is written, with chunked transfer coding (HTTP/1.0: until the connection closes), so the
/// daemon never holds a whole scrape: kept whole, its text was about 470 bytes of resident memory per downstream.
/// Sends block the writer, which runs on the scrape's own task; the connection's send timeout bounds them.
/// Write-only; one scrape at a time.
/// </summary>
internal sealed class ScrapeBuffer : Stream
{
    private const int ChunkSize = 64 << 10;

    private readonly byte[] _chunk = new byte[ChunkSize];
    private Socket? _connection;
    private string _contentType = "";
    private bool _http10;
    private int _length;
    private long _sent;

    /// <summary>Starts a response to <paramref name="connection"/>; nothing is sent until a chunk fills or <see cref="Finish"/>.</summary>
    public void Reset(Socket connection, string contentType, bool http10)
    {
        _connection = connection;
        _contentType = contentType;
        _http10 = http10;
        _length = 0;
        _sent = 0;
        Started = false;
    }

    /// <summary>Whether the head has gone out: after that a failure can only end the connection, not answer 500.</summary>
    public bool Started { get; private set; }

    /// <summary>Sends what is left and ends the response.</summary>
    public void Finish()
    {
        if (!Started)
        {
            Send(Encoding.ASCII.GetBytes(MetricsHttpServer.Head(200, "OK", _contentType, $"Content-Length: {_length}")));
            Started = true;
            Send(_chunk.AsSpan(0, _length));
            return;
        }
        SendChunk();
        if (!_http10)
        {
            Send("0\r\n\r\n"u8);
        }
    }

    public override long Length => _sent + _length;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            if (_length == ChunkSize)
            {
                SendChunk();
            }
            var room = Math.Min(buffer.Length, ChunkSize - _length);
            buffer[..room].CopyTo(_chunk.AsSpan(_length));
            _length += room;
            buffer = buffer[room..];
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    private void SendChunk()
    {
        if (!Started)
        {
            var framing = _http10 ? "" : "Transfer-Encoding: chunked";
            Send(Encoding.ASCII.GetBytes(MetricsHttpServer.Head(200, "OK", _contentType, framing)));
            Started = true;
        }
        if (_length == 0)
        {
            return;
        }
        if (!_http10)
        {
            Send(Encoding.ASCII.GetBytes($"{_length:x}\r\n"));
        }
        Send(_chunk.AsSpan(0, _length));
        if (!_http10)
        {
            Send("\r\n"u8);
        }
        _sent += _length;
        _length = 0;
    }

    private void Send(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            bytes = bytes[_connection!.Send(bytes)..];
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Position { get => Length; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
