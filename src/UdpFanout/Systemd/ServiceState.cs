using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace UdpFanout.Systemd;

/// <summary>
/// The latest <see cref="ListenerState"/> of each listener: a listener that a reload restarts begins from its own. Under systemd they also outlive the process, in a memfd kept in the file descriptor store
/// (FDNAME=state) and rewritten on every change, so the next process starts with the downstreams health checks had
/// taken out still out and with the endpoints discovery had found, until probes and the first list say otherwise.
/// A blob that cannot be read is ignored with a warning: the listeners start as a first start would. Outside
/// systemd nothing outlives the process.
/// </summary>
internal sealed partial class ServiceState
{
    private const string Name = "state";
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ListenerState> _listeners = new(StringComparer.Ordinal);
    private readonly SafeFileHandle? _blob;
    private readonly ILogger _logger;
    private bool _writeFailing;

    public ServiceState(FileDescriptorStore store, ILogger logger)
    {
        _logger = logger;
        if (!store.KeepsAcrossRestarts)
        {
            return;
        }
        _blob = store.Take(Name, fd => new SafeFileHandle(fd, ownsHandle: true), _ => true);
        if (_blob is not null)
        {
            Read(_blob);
            return;
        }
        var fd = Interop.Libc.memfd_create("udp-fanout-state", Interop.Libc.MFD_CLOEXEC);
        if (fd < 0)
        {
            LogNoBlob(_logger, Interop.Libc.StrError(Marshal.GetLastPInvokeError()));
            return;
        }
        _blob = new SafeFileHandle(fd, ownsHandle: true);
        store.Keep(Name, fd);
    }

    /// <summary>The listener's last saved state, by this process or the one before; null when there is none.</summary>
    public ListenerState? Restored(string listener)
    {
        lock (_gate)
        {
            return _listeners.GetValueOrDefault(listener);
        }
    }

    /// <summary>Records a listener's state after a change, and under systemd rewrites the blob.</summary>
    public void Save(ListenerState state)
    {
        lock (_gate)
        {
            _listeners[state.Listener] = state;
            Write();
        }
    }

    /// <summary>Forgets the listeners that a config no longer runs.</summary>
    public void Retain(IReadOnlyCollection<string> listeners)
    {
        lock (_gate)
        {
            var gone = _listeners.Keys.Where(l => !listeners.Contains(l)).ToArray();
            foreach (var listener in gone)
            {
                _listeners.Remove(listener);
            }
            if (gone.Length > 0)
            {
                Write();
            }
        }
    }

    private void Read(SafeFileHandle blob)
    {
        try
        {
            var bytes = new byte[RandomAccess.GetLength(blob)];
            var read = RandomAccess.Read(blob, bytes, 0);
            if (ListenerStateCodec.Decode(bytes.AsSpan(0, read), out var error) is not { } listeners)
            {
                LogUnreadable(_logger, error);
                return;
            }
            foreach (var listener in listeners)
            {
                _listeners[listener.Listener] = listener;
            }
        }
        catch (Exception e) when (e is IOException or NotSupportedException or UnauthorizedAccessException)
        {
            // Not a file (a socket stored under this name, say): nothing to restore from.
            LogUnreadable(_logger, e.Message);
        }
    }

    private void Write()
    {
        if (_blob is null)
        {
            return;
        }
        try
        {
            // In place: systemd holds this same file, a new one would have to be stored again. The length is set
            // after the write, so a longer blob is never cut short; a crash in between is caught by the checksum.
            var bytes = ListenerStateCodec.Encode(_listeners.Values);
            RandomAccess.Write(_blob, bytes, 0);
            RandomAccess.SetLength(_blob, bytes.Length);
            if (_writeFailing)
            {
                _writeFailing = false;
                LogWritesAgain(_logger);
            }
        }
        catch (Exception e) when (e is IOException or NotSupportedException or UnauthorizedAccessException)
        {
            if (!_writeFailing)
            {
                _writeFailing = true;
                LogWriteFailed(_logger, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "the state kept from the previous process cannot be used ({Error}): every downstream starts healthy and discovery starts empty")]
    private static partial void LogUnreadable(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot make a memory file for the state kept across restarts ({Error}): the next process starts with every downstream healthy")]
    private static partial void LogNoBlob(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot write the state kept across restarts ({Error}): the next process may start from an older one")]
    private static partial void LogWriteFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "the state kept across restarts is written again")]
    private static partial void LogWritesAgain(ILogger logger);
}
