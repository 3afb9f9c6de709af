using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace UdpFanout.Systemd;

/// <summary>
/// The latest <see cref="ListenerState"/> of each listener: a listener that a reload restarts begins from its own. Under
/// systemd they also outlive the process, in a memfd kept in the file descriptor store (FDNAME=state), so the next
/// process starts with the downstreams health checks had taken out still out and with the endpoints discovery had
/// found, until probes and the first list say otherwise. A blob that cannot be read is ignored with a warning: the
/// listeners start as a first start would. Outside systemd nothing outlives the process.
/// </summary>
/// <remarks>
/// A change only marks the state dirty: encoding every listener's state is O(downstreams) and used to run under the
/// rotation's lock on every health verdict, at 10,000 downstreams milliseconds per change. One timer writes the blob at
/// most <see cref="WriteDelay"/> after the first change it has not written yet, reading each listener's state then,
/// so a burst of changes costs one write; <see cref="Flush"/> (at stop) writes what is pending at once. A process
/// that dies without stopping loses at most the changes of its last <see cref="WriteDelay"/>.
/// </remarks>
internal sealed partial class ServiceState : IDisposable
{
    /// <summary>How long a change may wait before it is in the blob (docs/deployment.md quotes it).</summary>
    public static readonly TimeSpan WriteDelay = TimeSpan.FromMilliseconds(200);

    private const string Name = "state";
    private readonly Lock _gate = new();
    // Each listener's state, read when needed: the running listener's current one, or the one the previous process
    // or a stopped instance left.
    private readonly Dictionary<string, Func<ListenerState>> _listeners = new(StringComparer.Ordinal);
    private readonly Lock _writing = new();
    private readonly SafeFileHandle? _blob;
    private readonly ITimer? _writer;
    private readonly ILogger _logger;
    private bool _pending;
    private bool _writeFailing;

    public ServiceState(FileDescriptorStore store, TimeProvider time, ILogger logger)
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
        }
        else
        {
            var fd = Interop.Libc.memfd_create("udp-fanout-state", Interop.Libc.MFD_CLOEXEC);
            if (fd < 0)
            {
                LogNoBlob(_logger, Interop.Libc.StrError(Marshal.GetLastPInvokeError()));
                return;
            }
            _blob = new SafeFileHandle(fd, ownsHandle: true);
            store.Keep(Name, fd);
        }
        _writer = time.CreateTimer(_ => WritePending(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The listener's last saved state, by this process or the one before; null when there is none.</summary>
    public ListenerState? Restored(string listener)
    {
        Func<ListenerState>? read;
        lock (_gate)
        {
            read = _listeners.GetValueOrDefault(listener);
        }
        // Outside the lock: a listener's state is read under its rotation's lock, which saves while it holds it.
        return read?.Invoke();
    }

    /// <summary>
    /// Records that a listener's state changed; <paramref name="read"/> gives it whenever it is needed (to write the
    /// blob, to restart the listener) and must not call back into this class. Cheap enough for the rotation's lock.
    /// </summary>
    public void Save(string listener, Func<ListenerState> read)
    {
        lock (_gate)
        {
            _listeners[listener] = read;
            SchedulePending();
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
                SchedulePending();
            }
        }
    }

    /// <summary>Writes the changes not written yet, now: at stop, so the next process starts from the very last state.</summary>
    public void Flush() => WritePending();

    /// <summary>Stops the timer; what is still pending is not written (call <see cref="Flush"/> first).</summary>
    public void Dispose() => _writer?.Dispose();

    private void SchedulePending()
    {
        if (_writer is null || _pending)
        {
            return;
        }
        _pending = true;
        _writer.Change(WriteDelay, Timeout.InfiniteTimeSpan);
    }

    private void WritePending()
    {
        // One writer at a time: the timer and a flush may meet, and the blob is rewritten in place.
        lock (_writing)
        {
            Func<ListenerState>[] listeners;
            lock (_gate)
            {
                if (!_pending)
                {
                    return;
                }
                _pending = false;
                listeners = [.. _listeners.Values];
            }
            try
            {
                Write([.. listeners.Select(read => read())]);
            }
            catch (Exception e)
            {
                // On the timer's thread, where an exception would end the process: a bug, logged like a failed write.
                LogWriteCrashed(_logger, e);
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
                _listeners[listener.Listener] = () => listener;
            }
        }
        catch (Exception e) when (e is IOException or NotSupportedException or UnauthorizedAccessException)
        {
            // Not a file (a socket stored under this name, say): nothing to restore from.
            LogUnreadable(_logger, e.Message);
        }
    }

    private void Write(IReadOnlyList<ListenerState> listeners)
    {
        try
        {
            // In place: systemd holds this same file, a new one would have to be stored again. The length is set
            // after the write, so a longer blob is never cut short; a crash in between is caught by the checksum.
            var bytes = ListenerStateCodec.Encode(listeners);
            RandomAccess.Write(_blob!, bytes, 0);
            RandomAccess.SetLength(_blob!, bytes.Length);
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

    [LoggerMessage(Level = LogLevel.Error, Message = "writing the state kept across restarts failed unexpectedly; the next change tries again")]
    private static partial void LogWriteCrashed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "the state kept across restarts is written again")]
    private static partial void LogWritesAgain(ILogger logger);
}
