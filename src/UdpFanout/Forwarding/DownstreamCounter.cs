using System.Runtime.CompilerServices;

namespace UdpFanout.Forwarding;

/// <summary>
/// What one downstream was sent, and the ICMP errors that came back for it; workers add to the sent counts once
/// per batch, not per datagram, and to the errors as they read them from their sockets' error queues.
/// </summary>
internal sealed class DownstreamCounter
{
    // Inline, not an array of their own: an array was 32 more bytes for each of 10,000 downstreams. Not readonly:
    // Interlocked takes a writable reference to the element.
    private IcmpErrorCounts _icmpErrors;
    private long _packets;
    private long _bytes;

    public long Packets => Volatile.Read(ref _packets);

    public long Bytes => Volatile.Read(ref _bytes);

    public long IcmpErrorsOf(IcmpError type) => Volatile.Read(ref _icmpErrors[(int)type]);

    public void Add(long packets, long bytes)
    {
        Interlocked.Add(ref _packets, packets);
        Interlocked.Add(ref _bytes, bytes);
    }

    public void AddIcmpError(IcmpError type) => Interlocked.Increment(ref _icmpErrors[(int)type]);

    /// <summary>One count for each <see cref="IcmpError"/>, <see cref="IcmpError.Other"/> the last.</summary>
    [InlineArray((int)IcmpError.Other + 1)]
    private struct IcmpErrorCounts
    {
        private long _first;
    }
}
