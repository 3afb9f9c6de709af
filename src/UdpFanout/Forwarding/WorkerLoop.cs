using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace UdpFanout.Forwarding;

/// <summary>
/// Keeps a forwarding thread (a userspace worker, an af_xdp queue forwarder, an eBPF mode's fallback) alive. Its
/// loop throws only through a bug, but an exception that leaves a thread aborts the process, every listener with it,
/// and a loop that ended quietly would leave its socket or queue unserved while the listener looks alive. So the
/// thread drops its unfinished batch (counted, so received = forwarded + dropped still holds), the failure is logged
/// at err with its stack trace and counted as a restart, and the loop starts again after a pause that doubles while
/// failures follow each other, so a fault that recurs at every batch costs a log line every few seconds, not a busy
/// loop. The catch is around the whole loop, so the per-batch path carries no exception handling.
/// </summary>
internal sealed partial class WorkerLoop(string listener, string worker, ILogger logger)
{
    public static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan MaxPause = TimeSpan.FromSeconds(5);

    /// <summary>A failure this long after the previous one is a new fault: the pauses start over.</summary>
    private static readonly TimeSpan Calm = TimeSpan.FromMinutes(1);

    /// <summary>How often a pause looks whether the loop was stopped meanwhile.</summary>
    private static readonly TimeSpan StopCheck = TimeSpan.FromMilliseconds(10);

    private volatile bool _stopping;
    private long _restarts;

    /// <summary>Read by the loop once per batch (or per wait for one).</summary>
    public bool Stopping => _stopping;

    /// <summary>How often the loop failed and started again.</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    /// <summary>Ends the loop at its next check, and a pause after a failure within <see cref="StopCheck"/>.</summary>
    public void Stop() => _stopping = true;

    /// <summary>
    /// Runs <paramref name="loop"/> until <see cref="Stop"/>; when it throws, <paramref name="dropUnfinishedBatch"/>
    /// settles the batch it was in (and returns how many datagrams that dropped) before the loop starts again.
    /// </summary>
    public void Run(Action loop, Func<long> dropUnfinishedBatch)
    {
        var pause = FirstPause;
        var lastFailure = 0L;
        while (!_stopping)
        {
            try
            {
                loop();
            }
            catch (Exception e)
            {
                var now = Stopwatch.GetTimestamp();
                pause = lastFailure == 0 || Stopwatch.GetElapsedTime(lastFailure, now) > Calm ? FirstPause : Min(pause * 2, MaxPause);
                lastFailure = now;
                Interlocked.Increment(ref _restarts);
                LogFailed(logger, e, listener, worker, Settle(dropUnfinishedBatch), (long)pause.TotalMilliseconds);
                Pause(pause);
            }
        }
    }

    private void Pause(TimeSpan pause)
    {
        var end = Stopwatch.GetTimestamp() + (long)(pause.TotalSeconds * Stopwatch.Frequency);
        while (!_stopping && Stopwatch.GetTimestamp() < end)
        {
            Thread.Sleep(StopCheck);
        }
    }

    private long Settle(Func<long> dropUnfinishedBatch)
    {
        try
        {
            return dropUnfinishedBatch();
        }
        catch (Exception e)
        {
            // A second bug, in the clean-up: said too, and the loop still starts again rather than end the thread.
            LogSettleFailed(logger, e, listener, worker);
            return 0;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    // The exception goes with it (its stack trace to the journal's EXCEPTION field): this is a bug to report.
    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: forwarding thread {Worker} failed and starts again in {PauseMs} ms; its unfinished batch of {Unfinished} datagram(s) counts as dropped (worker_failed)")]
    private static partial void LogFailed(ILogger logger, Exception exception, string listener, string worker, long unfinished, long pauseMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: forwarding thread {Worker} failed, and so did settling its unfinished batch; it starts again")]
    private static partial void LogSettleFailed(ILogger logger, Exception exception, string listener, string worker);
}
