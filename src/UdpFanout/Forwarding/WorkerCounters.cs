namespace UdpFanout.Forwarding;

/// <summary>
/// One worker's listener counters. Only that worker writes them, once per batch; readers see whole 64-bit values.
/// A batch's received, forwarded and dropped counts are all added before the batch ends.
/// </summary>
internal sealed class WorkerCounters
{
    public long Received;
    public long ReceivedBytes;
    public long Forwarded;
    public long ForwardedBytes;
    public readonly long[] Dropped = new long[DropReasonLabels.Count];
}
