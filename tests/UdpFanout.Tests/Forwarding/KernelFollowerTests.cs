using System.Collections.Concurrent;
using UdpFanout.Forwarding;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding;

/// <summary>The loop every kernel follower runs, with the kernel's side played by the test.</summary>
public sealed class KernelFollowerTests
{
    private readonly ConcurrentQueue<string> _events = new();
    private volatile bool _changed;
    private int _catchUpFailuresLeft;

    [Fact]
    public async Task Run_CatchUpsKeepFailing_SaidOnceCountedEachTimeRetriedAfreshThenRecoveredOnce()
    {
        _catchUpFailuresLeft = 3;
        using var follower = Start();

        _changed = true;

        await Eventually.TrueAsync(() => _events.Contains("recovered"), "a catch-up afresh that works", timeoutSeconds: 15);
        Assert.Equal(3, follower.Failures);
        Assert.False(follower.Failing);
        // The change, three failed catch-ups (one said), then afresh until one works: the failures a second apart.
        Assert.Equal(["catch-up", "failed: catch-up 1", "catch-up afresh", "catch-up afresh", "catch-up afresh", "recovered"],
            _events.Where(e => e != "wait").Take(6));
    }

    [Fact]
    public async Task Fail_FromAnotherThread_TheNextCatchUpIsAfreshWithoutWaitingForAChange()
    {
        using var follower = Start();
        await Eventually.TrueAsync(() => _events.Contains("wait"), "the thread to wait");

        follower.Fail(new InvalidOperationException("a refresh on a reload's thread"));

        await Eventually.TrueAsync(() => _events.Contains("recovered"), "the catch-up afresh");
        Assert.Equal(["failed: a refresh on a reload's thread", "catch-up afresh", "recovered"], _events.Where(e => e != "wait"));
        Assert.Equal(1, follower.Failures);
    }

    [Fact]
    public async Task Fault_ArmedWhileNothingChanges_TheWaitFailsAndTheViewIsCaughtUpAfresh()
    {
        using var follower = Start();

        follower.Fault.Arm(new InvalidOperationException("notifications lost"));

        await Eventually.TrueAsync(() => _events.Contains("recovered"), "the catch-up afresh");
        Assert.Equal(["failed: notifications lost", "catch-up afresh", "recovered"], _events.Where(e => e != "wait"));
    }

    [Fact]
    public async Task StartAfterFirstRead_FirstReadFails_CountedSaidAndReadAfreshByTheThread()
    {
        _catchUpFailuresLeft = 1;
        using var follower = new KernelFollower("test/follow", Wait, CatchUp, e => _events.Enqueue($"failed: {e.Message}"), () => _events.Enqueue("recovered"));

        follower.StartAfterFirstRead();

        // The first read ran on the caller's thread, before the thread started.
        Assert.Equal(["catch-up afresh", "failed: catch-up 3"], _events.Take(2));
        await Eventually.TrueAsync(() => _events.Contains("recovered"), "the thread's catch-up afresh");
        Assert.Equal(["catch-up afresh", "failed: catch-up 3", "catch-up afresh", "recovered"], _events.Where(e => e != "wait"));
        Assert.Equal(1, follower.Failures);
    }

    [Fact]
    public void Dispose_WhileWaiting_StopsTheThread()
    {
        var follower = Start();
        follower.Dispose();
        var waits = _events.Count(e => e == "wait");
        Thread.Sleep(3 * KernelFollower.WaitMilliseconds);
        Assert.Equal(waits, _events.Count(e => e == "wait"));
    }

    private KernelFollower Start()
    {
        var follower = new KernelFollower("test/follow", Wait, CatchUp, e => _events.Enqueue($"failed: {e.Message}"), () => _events.Enqueue("recovered"));
        follower.Start();
        return follower;
    }

    private bool Wait(int milliseconds)
    {
        _events.Enqueue("wait");
        Thread.Sleep(Math.Min(milliseconds, 10));
        var changed = _changed;
        _changed = false;
        return changed;
    }

    private void CatchUp(bool afresh)
    {
        _events.Enqueue(afresh ? "catch-up afresh" : "catch-up");
        if (_catchUpFailuresLeft > 0)
        {
            throw new InvalidOperationException($"catch-up {4 - _catchUpFailuresLeft--}");
        }
    }
}
