namespace UdpFanout.Forwarding;

/// <summary>
/// A test seam, like <see cref="AfXdp.AfXdpQueueWorker.Paused"/>: an exception that the next batch of one of a
/// listener's forwarding threads throws, once, after counting the batch as received and before sending it. Nothing
/// from outside makes a forwarding loop throw (an exception there is a bug), so this is how a test proves that a
/// loop survives one, logs and counts it, keeps received = forwarded + dropped, and goes on forwarding.
/// </summary>
internal sealed class InjectedFault
{
    private Exception? _armed;

    public void Arm(Exception fault) => Volatile.Write(ref _armed, fault);

    /// <summary>Once per batch: a single read while nothing is armed; the first thread to find the fault takes it.</summary>
    public void ThrowIfArmed()
    {
        if (Volatile.Read(ref _armed) is not null && Interlocked.Exchange(ref _armed, null) is { } fault)
        {
            throw fault;
        }
    }
}
