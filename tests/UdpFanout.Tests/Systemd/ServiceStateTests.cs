using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Systemd;

/// <summary>
/// The state blob in systemd's file descriptor store, with the test playing systemd: stored once as FDNAME=state,
/// rewritten in place at most <see cref="ServiceState.WriteDelay"/> after a change (at once by a flush, as at stop),
/// read by the next process; a blob that cannot be used is a warning, not a failed start.
/// </summary>
public sealed class ServiceStateTests : IDisposable
{
    private static readonly ListenerState Syslog = new("syslog", null, [new Downstream("sink-2", IPEndPoint.Parse("10.0.0.2:5514"))], []);

    private readonly NotifySocket _systemd = new();

    public void Dispose() => _systemd.Dispose();

    [Fact]
    public void Save_UnderSystemd_TheNextProcessStartsFromTheLastSavedState()
    {
        using var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance), TimeProvider.System, NullLogger.Instance);
        Save(state, Syslog with { Down = [] });
        Save(state, Syslog);
        Save(state, new ListenerState("other", null, [], []));
        state.Retain(["syslog"]);
        state.Flush();

        using var next = new ServiceState(FileDescriptorStores.NextProcess(_systemd), TimeProvider.System, NullLogger.Instance);

        var restored = next.Restored("syslog");
        Assert.NotNull(restored);
        Assert.Equal(Syslog.Down, restored.Down);
        Assert.Null(next.Restored("other"));
    }

    [Fact]
    public void New_UnderSystemd_StoresOneMemoryFileNamedStateAndRewritesItInPlace()
    {
        using var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance), TimeProvider.System, NullLogger.Instance);
        var (text, passed) = _systemd.Next() ?? throw new Xunit.Sdk.XunitException("no FDSTORE message");
        using (passed)
        {
            Assert.Equal("FDSTORE=1\nFDNAME=state", text);
            Assert.StartsWith("/memfd:udp-fanout-state", new FileInfo($"/proc/self/fd/{passed!.DangerousGetHandle()}").LinkTarget);
            Save(state, Syslog);
            state.Flush();
            Save(state, Syslog with { Down = [] });
            state.Flush();
            Assert.True(_systemd.Next(0.2) is null, "a save rewrites the stored file: nothing is stored again");
            var restored = ListenerStateCodec.Decode(File.ReadAllBytes($"/proc/self/fd/{passed.DangerousGetHandle()}"), out _);
            Assert.Empty(Assert.Single(restored!).Down);
        }
    }

    [Fact]
    public void New_StoredStateIsGarbage_WarnsAndStartsFromNothing()
    {
        var garbage = global::Interop.Libc.memfd_create("garbage", global::Interop.Libc.MFD_CLOEXEC);
        File.WriteAllText($"/proc/self/fd/{garbage}", "udp-fanout-state 1 00\n[]");
        var log = new RecordingLogger();

        using var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [("state", new InheritedFd(garbage))], NullLogger.Instance), TimeProvider.System, log);

        Assert.Null(state.Restored("syslog"));
        var warning = Assert.Single(log.At(LogLevel.Warning));
        Assert.Equal("the state kept from the previous process cannot be used (its checksum does not match (written in part when the process died?)): every downstream starts healthy and discovery starts empty", warning.Message);
        // The blob is written anew from then on.
        Save(state, Syslog);
        state.Flush();
        Assert.Equal(Syslog.Down, ListenerStateCodec.Decode(File.ReadAllBytes($"/proc/self/fd/{garbage}"), out _)!.Single().Down);
    }

    [Fact]
    public void New_StoredStateIsASocket_WarnsAndStartsFromNothing()
    {
        var socket = global::Interop.Libc.socket(2, 2, 0);
        var log = new RecordingLogger();

        using var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [("state", new InheritedFd(socket))], NullLogger.Instance), TimeProvider.System, log);
        Save(state, Syslog);
        state.Flush();
        Save(state, Syslog);
        state.Flush();

        var warnings = log.At(LogLevel.Warning).Select(w => w.Message).ToArray();
        Assert.True(warnings.Length == 2, string.Join("\n", warnings));
        Assert.Equal("the state kept from the previous process cannot be used (Stream does not support seeking.): every downstream starts healthy and discovery starts empty", warnings[0]);
        Assert.StartsWith("cannot write the state kept across restarts (", warnings[1]);
        Assert.Equal(Syslog.Down, state.Restored("syslog")!.Down);
    }

    [Fact]
    public void Save_OutsideSystemd_KeepsTheStateForThisProcessOnlyAndStoresNothing()
    {
        using var state = new ServiceState(FileDescriptorStores.None(), TimeProvider.System, NullLogger.Instance);

        Save(state, Syslog);
        state.Flush();

        Assert.Equal(Syslog.Down, state.Restored("syslog")!.Down);
        Assert.True(_systemd.Next(0.2) is null);
    }

    [Fact]
    public void Save_ManyChangesBeforeTheTimerFires_WriteTheBlobOnceWithTheStateAtThatMoment()
    {
        var timers = new HeldTimers();
        using var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance), timers, NullLogger.Instance);
        var (_, passed) = _systemd.Next() ?? throw new Xunit.Sdk.XunitException("no FDSTORE message");
        using (passed)
        {
            var blob = $"/proc/self/fd/{passed!.DangerousGetHandle()}";
            IReadOnlyList<Downstream> down = [];
            for (var i = 0; i < 1000; i++)
            {
                down = [new Downstream($"sink-{i}", IPEndPoint.Parse("10.0.0.2:5514"))];
                var now = Syslog with { Down = down };
                state.Save("syslog", () => now);
            }

            // A change is not encoded where it is made (under the rotation's lock): nothing is written yet, one write is due.
            Assert.Empty(File.ReadAllBytes(blob));
            var timer = Assert.Single(timers.Created);
            Assert.Equal(ServiceState.WriteDelay, timer.DueTime);
            Assert.Equal(1, timer.Armed);

            timer.Fire();
            Assert.Equal(down, ListenerStateCodec.Decode(File.ReadAllBytes(blob), out _)!.Single().Down);
            timer.Fire();
            Assert.Equal(1, timer.Armed);
            Save(state, Syslog);
            Assert.Equal(2, timer.Armed);
        }
    }

    [Fact]
    public async Task Save_WithoutAFlush_IsInTheBlobWithinTheWriteDelay()
    {
        using var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance), TimeProvider.System, NullLogger.Instance);
        var (_, passed) = _systemd.Next() ?? throw new Xunit.Sdk.XunitException("no FDSTORE message");
        using (passed)
        {
            Save(state, Syslog);

            await Eventually.TrueAsync(
                () => ListenerStateCodec.Decode(File.ReadAllBytes($"/proc/self/fd/{passed!.DangerousGetHandle()}"), out _)?.Single().Down.SequenceEqual(Syslog.Down) == true,
                "the timer to write the change", timeoutSeconds: 5);
        }
    }

    private static void Save(ServiceState state, ListenerState listener) => state.Save(listener.Listener, () => listener);

    /// <summary>Timers that fire only when the test fires them; counts how often each was armed.</summary>
    private sealed class HeldTimers : TimeProvider
    {
        public List<HeldTimer> Created { get; } = [];

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new HeldTimer(() => callback(state));
            Created.Add(timer);
            timer.Change(dueTime, period);
            return timer;
        }
    }

    private sealed class HeldTimer(Action fire) : ITimer
    {
        public TimeSpan DueTime { get; private set; } = Timeout.InfiniteTimeSpan;

        public int Armed { get; private set; }

        public void Fire() => fire();

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            DueTime = dueTime;
            Armed += dueTime == Timeout.InfiniteTimeSpan ? 0 : 1;
            return true;
        }

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
