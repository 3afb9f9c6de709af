namespace UdpFanout.Forwarding;

/// <summary>What one downstream was sent; workers add to it once per batch, not per datagram.</summary>
internal sealed class DownstreamCounter
{
    private long _packets;
    private long _bytes;

    public long Packets => Volatile.Read(ref _packets);

    public long Bytes => Volatile.Read(ref _bytes);

    public void Add(long packets, long bytes)
    {
        Interlocked.Add(ref _packets, packets);
        Interlocked.Add(ref _bytes, bytes);
    }
}
