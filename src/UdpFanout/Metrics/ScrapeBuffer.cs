namespace UdpFanout.Metrics;

/// <summary>
/// The text of one scrape, in chunks of 64 KiB kept for the next scrape: a scrape of 10,000 downstreams is megabytes,
/// and one contiguous buffer would double its way there, leaving each smaller copy behind as garbage and keeping
/// up to twice the text. Chunks stay below the large object heap's threshold. Write-only; one scrape at a time.
/// </summary>
internal sealed class ScrapeBuffer : Stream
{
    private const int ChunkSize = 64 << 10;

    private readonly List<byte[]> _chunks = [];
    private int _chunk;
    private int _offset;
    private long _length;

    /// <summary>Empties the buffer and leaves <paramref name="headRoom"/> bytes at its start for <see cref="WriteHead"/>.</summary>
    public void Reset(int headRoom)
    {
        _chunk = 0;
        _offset = headRoom;
        _length = 0;
        if (_chunks.Count == 0)
        {
            _chunks.Add(new byte[ChunkSize]);
        }
    }

    public override long Length => _length;

    /// <summary>Writes <paramref name="head"/> just before the text, into the room <see cref="Reset"/> left.</summary>
    public int WriteHead(ReadOnlySpan<byte> head, int headRoom)
    {
        head.CopyTo(_chunks[0].AsSpan(headRoom - head.Length));
        return headRoom - head.Length;
    }

    /// <summary>The pieces to send: the first from <paramref name="start"/> (where the head begins), then the text.</summary>
    public IEnumerable<ReadOnlyMemory<byte>> Pieces(int start)
    {
        for (var i = 0; i <= _chunk; i++)
        {
            var from = i == 0 ? start : 0;
            var to = i == _chunk ? _offset : ChunkSize;
            yield return _chunks[i].AsMemory(from, to - from);
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            if (_offset == ChunkSize)
            {
                _chunk++;
                _offset = 0;
                if (_chunk == _chunks.Count)
                {
                    _chunks.Add(new byte[ChunkSize]);
                }
            }
            var room = Math.Min(buffer.Length, ChunkSize - _offset);
            buffer[..room].CopyTo(_chunks[_chunk].AsSpan(_offset));
            _offset += room;
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

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
