using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using UdpFanout.Systemd;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Plays systemd's file descriptor store while a daemon or a forwarder runs, as systemd does: reads its notify
/// socket as messages come (a datagram socket queues only a few), keeps each descriptor FDSTORE=1 passes under its
/// FDNAME= and closes at once those FDSTOREREMOVE=1 names, so that a socket the daemon drops is really gone.
/// </summary>
internal sealed class LiveFdStore : IDisposable
{
    private readonly NotifySocket _systemd;
    private readonly List<(string Name, SafeFileHandle Fd)> _stored = [];
    private readonly List<string> _states = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;

    public LiveFdStore(NotifySocket systemd)
    {
        _systemd = systemd;
        _reader = Task.Run(Read);
    }

    /// <summary>The FDNAME= of every descriptor the store holds now.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_stored)
            {
                return _stored.Select(s => s.Name).ToArray();
            }
        }
    }

    /// <summary>Whether a message carried <paramref name="state"/> (e.g. READY=1).</summary>
    public bool Received(string state)
    {
        lock (_stored)
        {
            return _states.Any(s => s.Split('\n').Contains(state));
        }
    }

    /// <summary>
    /// What systemd hands the next process once this one is gone: the store's descriptors, as LISTEN_FDS passes them.
    /// Stops reading; the returned store owns the descriptors.
    /// </summary>
    public FileDescriptorStore NextProcess(ILogger? logger = null)
    {
        _stop.Cancel();
        _reader.GetAwaiter().GetResult();
        lock (_stored)
        {
            var passed = _stored.Select(s => (s.Name, (IDisposable)new InheritedFd((int)s.Fd.DangerousGetHandle()))).ToList();
            _stored.ForEach(s => s.Fd.SetHandleAsInvalid());
            _stored.Clear();
            return new FileDescriptorStore(_systemd.Path, passed, logger ?? NullLogger.Instance);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _reader.GetAwaiter().GetResult();
        lock (_stored)
        {
            _stored.ForEach(s => s.Fd.Dispose());
            _stored.Clear();
        }
        _stop.Dispose();
    }

    private void Read()
    {
        while (!_stop.IsCancellationRequested)
        {
            if (_systemd.Next(0.1) is not var (text, passed))
            {
                continue;
            }
            var fields = text.Split('\n').Select(l => l.Split('=', 2)).Where(f => f.Length == 2).ToDictionary(f => f[0], f => f[1]);
            lock (_stored)
            {
                _states.Add(text);
                if (fields.ContainsKey("FDSTORE") && passed is not null)
                {
                    _stored.Add((fields["FDNAME"], passed));
                }
                else if (fields.ContainsKey("FDSTOREREMOVE"))
                {
                    _stored.Where(s => s.Name == fields["FDNAME"]).ToList().ForEach(s => s.Fd.Dispose());
                    _stored.RemoveAll(s => s.Name == fields["FDNAME"]);
                }
            }
        }
    }
}
