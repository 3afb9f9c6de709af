using Microsoft.Extensions.Logging;
using UdpFanout.Forwarding;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding;

public sealed class WorkerLoopTests
{
    private readonly RecordingLogger _log = new();

    [Fact]
    public void Run_FailuresInARow_EachSettledLoggedOnceAndCountedWithPausesThatDouble()
    {
        var loop = new WorkerLoop("syslog", "syslog/w1", _log);
        var calls = 0;
        var settled = 0;

        loop.Run(
            () =>
            {
                if (++calls <= 3)
                {
                    throw new InvalidOperationException($"fault {calls}");
                }
                loop.Stop();
            },
            () => ++settled);

        Assert.Equal((4, 3, 3L), (calls, settled, loop.Restarts));
        Assert.Equal(
            [
                "listener syslog: forwarding thread syslog/w1 failed and starts again in 100 ms; its unfinished batch of 1 datagram(s) counts as dropped (worker_failed)",
                "listener syslog: forwarding thread syslog/w1 failed and starts again in 200 ms; its unfinished batch of 2 datagram(s) counts as dropped (worker_failed)",
                "listener syslog: forwarding thread syslog/w1 failed and starts again in 400 ms; its unfinished batch of 3 datagram(s) counts as dropped (worker_failed)",
            ],
            _log.At(LogLevel.Error).Select(e => e.Message));
        Assert.All(_log.Entries, e => Assert.Equal(("syslog", "syslog/w1"), (e.Values["Listener"], e.Values["Worker"])));
    }

    [Fact]
    public void Run_SettlingTheBatchFailsToo_BothAreLoggedAndTheLoopStillStartsAgain()
    {
        var loop = new WorkerLoop("syslog", "syslog/q0", _log);
        var calls = 0;

        loop.Run(
            () =>
            {
                if (++calls == 1)
                {
                    throw new InvalidOperationException("fault");
                }
                loop.Stop();
            },
            () => throw new InvalidOperationException("clean-up fault"));

        Assert.Equal((2, 1L), (calls, loop.Restarts));
        Assert.Equal(
            [
                "listener syslog: forwarding thread syslog/q0 failed, and so did settling its unfinished batch; it starts again",
                "listener syslog: forwarding thread syslog/q0 failed and starts again in 100 ms; its unfinished batch of 0 datagram(s) counts as dropped (worker_failed)",
            ],
            _log.At(LogLevel.Error).Select(e => e.Message));
    }

    [Fact]
    public async Task Stop_DuringAPauseAfterAFailure_TheLoopEndsWithoutWaitingItOut()
    {
        var loop = new WorkerLoop("syslog", "syslog/w0", _log);
        var failing = Task.Run(() => loop.Run(() => throw new InvalidOperationException("fault"), () => 0));
        // Five failures in a row make the next pause 1.6 s.
        await Eventually.TrueAsync(() => loop.Restarts == 5, "five failures in a row", 5);

        var stopped = System.Diagnostics.Stopwatch.StartNew();
        loop.Stop();
        await failing.WaitAsync(TimeSpan.FromSeconds(1));

        Assert.True(stopped.ElapsedMilliseconds < 500, $"stop took {stopped.ElapsedMilliseconds} ms");
        Assert.Equal(5, loop.Restarts);
    }
}
