namespace UdpFanout.Balancing;

/// <summary>
/// The listener-wide round-robin sequence. A worker reserves a contiguous block of sequence numbers for a whole
/// batch with one atomic add, then assigns them in order, so the sequence is shared by all workers without a lock
/// and per-downstream counts stay within one of each other across all workers together.
/// </summary>
internal sealed class RoundRobin
{
    private long _next;

    /// <summary>Reserves <paramref name="count"/> consecutive positions and returns the first.</summary>
    public long Reserve(int count) => Interlocked.Add(ref _next, count) - count;

    /// <summary>The downstream index for a sequence position.</summary>
    public static int IndexOf(long position, int downstreamCount) => (int)((ulong)position % (ulong)downstreamCount);
}
