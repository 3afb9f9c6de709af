using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Systemd;

/// <summary>
/// The state blob in systemd's file descriptor store, with the test playing systemd: stored once as FDNAME=state,
/// rewritten in place, read by the next process; a blob that cannot be used is a warning, not a failed start.
/// </summary>
public sealed class ServiceStateTests : IDisposable
{
    private static readonly ListenerState Syslog = new("syslog", null, [new Downstream("sink-2", IPEndPoint.Parse("10.0.0.2:5514"))], []);

    private readonly NotifySocket _systemd = new();

    public void Dispose() => _systemd.Dispose();

    [Fact]
    public void Save_UnderSystemd_TheNextProcessStartsFromTheLastSavedState()
    {
        var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance), NullLogger.Instance);
        state.Save(Syslog with { Down = [] });
        state.Save(Syslog);
        state.Save(new ListenerState("other", null, [], []));
        state.Retain(["syslog"]);

        var next = new ServiceState(FileDescriptorStores.NextProcess(_systemd), NullLogger.Instance);

        var restored = next.Restored("syslog");
        Assert.NotNull(restored);
        Assert.Equal(Syslog.Down, restored.Down);
        Assert.Null(next.Restored("other"));
    }

    [Fact]
    public void New_UnderSystemd_StoresOneMemoryFileNamedStateAndRewritesItInPlace()
    {
        var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance), NullLogger.Instance);
        var (text, passed) = _systemd.Next() ?? throw new Xunit.Sdk.XunitException("no FDSTORE message");
        using (passed)
        {
            Assert.Equal("FDSTORE=1\nFDNAME=state", text);
            Assert.StartsWith("/memfd:udp-fanout-state", new FileInfo($"/proc/self/fd/{passed!.DangerousGetHandle()}").LinkTarget);
            state.Save(Syslog);
            state.Save(Syslog with { Down = [] });
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

        var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [("state", new InheritedFd(garbage))], NullLogger.Instance), log);

        Assert.Null(state.Restored("syslog"));
        var warning = Assert.Single(log.At(LogLevel.Warning));
        Assert.Equal("the state kept from the previous process cannot be used (its checksum does not match (written in part when the process died?)): every downstream starts healthy and discovery starts empty", warning.Message);
        // The blob is written anew from then on.
        state.Save(Syslog);
        Assert.Equal(Syslog.Down, ListenerStateCodec.Decode(File.ReadAllBytes($"/proc/self/fd/{garbage}"), out _)!.Single().Down);
    }

    [Fact]
    public void New_StoredStateIsASocket_WarnsAndStartsFromNothing()
    {
        var socket = global::Interop.Libc.socket(2, 2, 0);
        var log = new RecordingLogger();

        var state = new ServiceState(new FileDescriptorStore(_systemd.Path, [("state", new InheritedFd(socket))], NullLogger.Instance), log);
        state.Save(Syslog);
        state.Save(Syslog);

        var warnings = log.At(LogLevel.Warning).Select(w => w.Message).ToArray();
        Assert.True(warnings.Length == 2, string.Join("\n", warnings));
        Assert.Equal("the state kept from the previous process cannot be used (Stream does not support seeking.): every downstream starts healthy and discovery starts empty", warnings[0]);
        Assert.StartsWith("cannot write the state kept across restarts (", warnings[1]);
        Assert.Equal(Syslog.Down, state.Restored("syslog")!.Down);
    }

    [Fact]
    public void Save_OutsideSystemd_KeepsTheStateForThisProcessOnlyAndStoresNothing()
    {
        var state = new ServiceState(FileDescriptorStores.None(), NullLogger.Instance);

        state.Save(Syslog);

        Assert.Equal(Syslog.Down, state.Restored("syslog")!.Down);
        Assert.True(_systemd.Next(0.2) is null);
    }
}
