using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UdpFanout.Model;

namespace UdpFanout.Systemd;

/// <summary>
/// The descriptors of a listener's data path that outlive the listener, and under systemd the process: its
/// listening sockets (FDNAME=&lt;listener&gt;/&lt;worker&gt;) and its tc program's BPF link. Each one a listener
/// opens is also handed to systemd's file descriptor store (FDSTORE=1), which keeps it open across a restart and
/// passes it to the next process (LISTEN_FDS, LISTEN_FDNAMES): datagrams that arrive while no process reads wait in
/// a socket's receive buffer, and a link keeps its program attached and forwarding. A stopping listener gives its
/// descriptors back here, so a listener that restarts on reload takes the same ones. What nobody took once the config
/// is applied is closed and leaves systemd's store, so a port that is no longer configured does not go on receiving
/// and a program no longer configured detaches. Without NOTIFY_SOCKET (a manual run, the Kubernetes DaemonSet) a
/// descriptor lives with its listener, as before.
/// </summary>
internal sealed partial class FileDescriptorStore
{
    private readonly string? _notifySocket;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly List<(string Name, IDisposable Item)> _spare;
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);

    public FileDescriptorStore(string? notifySocket, IEnumerable<(string Name, IDisposable Item)> inherited, ILogger logger)
    {
        _notifySocket = string.IsNullOrEmpty(notifySocket) ? null : notifySocket;
        _spare = [.. inherited];
        _logger = logger;
    }

    /// <summary>Whether descriptors outlive the process here (NOTIFY_SOCKET is set), or close with their listener.</summary>
    public bool KeepsAcrossRestarts => _notifySocket is not null;

    /// <summary>The descriptors systemd passed to this process, when they are meant for it (LISTEN_PID).</summary>
    public static FileDescriptorStore FromEnvironment(ILogger<FileDescriptorStore> logger)
    {
        var inherited = new List<(string, IDisposable)>();
        if (int.TryParse(Environment.GetEnvironmentVariable("LISTEN_PID"), out var pid) && pid == Environment.ProcessId
            && int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), out var count))
        {
            var names = (Environment.GetEnvironmentVariable("LISTEN_FDNAMES") ?? "").Split(':');
            for (var i = 0; i < count; i++)
            {
                // SD_LISTEN_FDS_START: passed descriptors begin at 3.
                inherited.Add((i < names.Length ? names[i] : "unknown", new InheritedFd(3 + i)));
            }
        }
        // A child process must not take these for its own.
        foreach (var variable in new[] { "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES" })
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
        return new FileDescriptorStore(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"), inherited, logger);
    }

    /// <summary>
    /// Takes the spare descriptor named <paramref name="name"/> when <paramref name="fits"/> says it is what the
    /// listener now wants (a socket on its bind, a link on its interface); one that does not fit is closed and leaves
    /// systemd's store. Null when there is none to take: the caller opens one and <see cref="Keep"/>s it.
    /// </summary>
    /// <param name="wrap">Makes the caller's type of a descriptor systemd passed at start.</param>
    public T? Take<T>(string name, Func<int, T> wrap, Func<T, bool> fits) where T : class, IDisposable
    {
        lock (_gate)
        {
            var index = _spare.FindIndex(s => s.Name == name);
            if (index < 0)
            {
                return null;
            }
            var item = _spare[index].Item;
            _spare.RemoveAt(index);
            var candidate = item switch
            {
                T kept => kept,
                InheritedFd inherited => Wrap(inherited, wrap),
                _ => null,
            };
            if (candidate is not null && Fits(candidate, fits))
            {
                _held.Add(name);
                LogAdopted(_logger, name);
                return candidate;
            }
            Discard(name, candidate ?? item);
            return null;
        }
    }

    /// <summary>Hands a descriptor the listener just opened to systemd's store, so the next process can take it.</summary>
    public void Keep(string name, int fd)
    {
        lock (_gate)
        {
            _held.Add(name);
            Notify($"FDSTORE=1\nFDNAME={name}", fd);
        }
    }

    /// <summary>
    /// Removes <paramref name="name"/> from systemd's store, where <see cref="Keep"/> put a descriptor that the
    /// listener closes itself (a map of its BPF object), or one <see cref="Take"/> handed out that the caller closed:
    /// for what only a crash would leave to the next process, once the listener made it moot.
    /// </summary>
    public void Forget(string name)
    {
        lock (_gate)
        {
            _held.Remove(name);
            Notify($"FDSTOREREMOVE=1\nFDNAME={name}", -1);
        }
    }

    /// <summary>
    /// Takes back a descriptor of a stopping listener. Under systemd it stays open, and in systemd's store: a listener
    /// that starts next in this process, or the next process, takes it (a socket with every datagram that waits in
    /// it, a link with its program still forwarding). Without systemd it closes, as it always did.
    /// </summary>
    public void Return(string name, IDisposable item)
    {
        lock (_gate)
        {
            _held.Remove(name);
            if (_notifySocket is null)
            {
                item.Dispose();
            }
            else
            {
                _spare.Add((name, item));
            }
        }
    }

    /// <summary>
    /// Closes a descriptor <see cref="Take"/> handed out that the listener cannot use after all (a kept XDP link in a
    /// mode the config no longer allows), and removes it from systemd's store.
    /// </summary>
    public void Drop(string name, IDisposable item)
    {
        lock (_gate)
        {
            _held.Remove(name);
            Discard(name, item);
        }
    }

    /// <summary>Closes every spare descriptor that no listener took after a config was applied, and removes it from systemd's store.</summary>
    public void CloseSpare()
    {
        lock (_gate)
        {
            foreach (var (name, item) in _spare)
            {
                Discard(name, item);
            }
            _spare.Clear();
        }
    }

    private T? Wrap<T>(InheritedFd inherited, Func<int, T> wrap) where T : class
    {
        try
        {
            return wrap(inherited.Fd);
        }
        catch (Exception e) when (e is SocketException or IOException or UserFixableException)
        {
            // Not what its name says (a socket where a link was stored, say): nothing this listener can use.
            LogNotUsable(_logger, inherited.Fd, UserFixableException.Describe(e));
            return null;
        }
    }

    private static bool Fits<T>(T candidate, Func<T, bool> fits)
    {
        try
        {
            return fits(candidate);
        }
        catch (Exception e) when (e is SocketException or IOException or UserFixableException)
        {
            return false;
        }
    }

    private void Discard(string name, IDisposable item)
    {
        LogDiscarded(_logger, name);
        item.Dispose();
        // The store removes every descriptor of a name: never one that a running listener still uses.
        if (!_held.Contains(name))
        {
            Notify($"FDSTOREREMOVE=1\nFDNAME={name}", -1);
        }
    }

    private void Notify(string state, int fd)
    {
        if (_notifySocket is null)
        {
            return;
        }
        try
        {
            SdNotify.Send(_notifySocket, state, fd);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            // Forwarding goes on; only the next restart loses what waits in this socket.
            LogNotifyFailed(_logger, UserFixableException.Describe(e));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "taking over {Name}, kept open while the listener restarted")]
    private static partial void LogAdopted(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "closing the kept descriptor {Name}: the config no longer has it")]
    private static partial void LogDiscarded(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "descriptor {Fd} from systemd's store is not what its name says ({Error}); closed")]
    private static partial void LogNotUsable(ILogger logger, int fd, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "systemd's file descriptor store is out of reach ({Error}): datagrams that arrive while the service restarts will be lost")]
    private static partial void LogNotifyFailed(ILogger logger, string error);
}
