using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Systemd;

namespace UdpFanout.Tests.Testing;

/// <summary>Stores for the forwarders under test.</summary>
internal static class FileDescriptorStores
{
    /// <summary>No systemd to keep anything: sockets and links close with their listener, as outside systemd.</summary>
    public static FileDescriptorStore None() => new(null, [], NullLogger.Instance);

    /// <summary>
    /// What systemd hands the next process of the unit: every descriptor stored on <paramref name="systemd"/>
    /// (FDSTORE=1) and not removed since (FDSTOREREMOVE=1), in the order stored, under its FDNAME=, as LISTEN_FDS
    /// would pass them. The previous process is taken to have exited: what it still holds no longer matters.
    /// </summary>
    public static FileDescriptorStore NextProcess(NotifySocket systemd, ILogger? logger = null)
    {
        var stored = new List<(string Name, int Fd)>();
        while (systemd.Next(0.3) is var (text, passed))
        {
            var fields = text.Split('\n').Select(l => l.Split('=', 2)).Where(f => f.Length == 2).ToDictionary(f => f[0], f => f[1]);
            if (fields.ContainsKey("FDSTORE") && passed is not null)
            {
                stored.Add((fields["FDNAME"], (int)passed.DangerousGetHandle()));
                passed.SetHandleAsInvalid();
            }
            else if (fields.ContainsKey("FDSTOREREMOVE"))
            {
                foreach (var (_, fd) in stored.Where(s => s.Name == fields["FDNAME"]))
                {
                    global::Interop.Libc.close(fd);
                }
                stored.RemoveAll(s => s.Name == fields["FDNAME"]);
            }
        }
        return new FileDescriptorStore(systemd.Path, stored.Select(s => (s.Name, (IDisposable)new InheritedFd(s.Fd))), logger ?? NullLogger.Instance);
    }
}
