namespace UdpFanout.Forwarding;

/// <summary>
/// Lets a downstream-set swap wait out the batches that may have read the old set. A worker enters before it
/// reads the set for a batch and leaves after the batch is sent; the full fence of <see cref="Enter"/> orders its
/// flag before that read, so a swapper that sees the flag clear knows the worker will read the new set.
/// </summary>
internal sealed class BatchGate
{
    private int _inBatch;
    private long _batchesDone;

    public void Enter() => Interlocked.Exchange(ref _inBatch, 1);

    public void Exit()
    {
        Volatile.Write(ref _batchesDone, _batchesDone + 1);
        Volatile.Write(ref _inBatch, 0);
    }

    /// <summary>Returns once no batch that began before the call is still running on <paramref name="worker"/>.</summary>
    public void WaitForBoundary(Thread worker)
    {
        if (Volatile.Read(ref _inBatch) == 0)
        {
            return;
        }
        var seen = Volatile.Read(ref _batchesDone);
        var spin = new SpinWait();
        while (Volatile.Read(ref _inBatch) != 0 && Volatile.Read(ref _batchesDone) == seen && worker.IsAlive)
        {
            spin.SpinOnce();
        }
    }
}
