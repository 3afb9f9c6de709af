using UdpFanout.Model;
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

    /// <summary>
    /// Of a <c>preserve_source</c> sender: datagrams it sent from the proxy's address, the client's being IPv6 or of
    /// another family than the downstream's. Each is also forwarded or dropped, as any other.
    /// </summary>
    public long SourceNotKept;

    /// <summary>
    /// IPv6 datagrams the kernel refused with their downstream's learnt source (<see cref="DownstreamSources"/>), no
    /// longer the host's, and that were sent again with a source the kernel chose. Each is also forwarded or dropped.
    /// </summary>
    public long StaleSources;

    /// <summary>
    /// After a failure in the middle of a batch (on the worker's own thread): counts what the batch received and
    /// neither forwarded nor dropped as dropped (<see cref="DropReason.WorkerFailed"/>), so received = forwarded +
    /// dropped holds again, and returns how many that was.
    /// </summary>
    public long DropUnfinished()
    {
        var unfinished = Received - Forwarded - Dropped.Sum();
        Dropped[(int)DropReason.WorkerFailed] += unfinished;
        return unfinished;
    }
}
