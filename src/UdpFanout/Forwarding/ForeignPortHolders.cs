using System.Globalization;
using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding;

/// <summary>
/// Refuses to start a listener on a port that another process receives on. The listener's sockets use
/// SO_REUSEPORT (its workers share the port, and the eBPF modes' fallback socket binds it too), and with it the
/// kernel lets a second process of the same user onto the port without a word and splits the datagrams between
/// the two (two daemons were seen sharing 109/91). Sockets of this process are not foreign: a listener that
/// restarts on reload may meet its own.
/// </summary>
internal static class ForeignPortHolders
{
    public static void ThrowIfHeld(ListenerConfig listener)
    {
        IReadOnlyList<UdpSocketEntry> sockets;
        try
        {
            sockets = UdpSocketTable.Read();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Starting anyway could share the port unnoticed, which is what this check exists to prevent.
            throw new ForwarderException(
                $"listener '{listener.Name}': cannot read the UDP socket table to check that no other process holds port {listener.Bind.Port}: {e.Message} (a sandbox must leave /proc/net visible: no ProcSubset=pid)", e);
        }
        ThrowIfHeld(listener, sockets);
    }

    public static void ThrowIfHeld(ListenerConfig listener, IReadOnlyList<UdpSocketEntry> sockets)
    {
        var overlapping = sockets.Where(s => s.Overlaps(listener.Bind)).ToArray();
        if (overlapping.Length == 0)
        {
            return;
        }
        var own = SocketInodes("/proc/self/fd");
        if (overlapping.FirstOrDefault(s => !own.Contains(s.Inode)) is not { } foreign)
        {
            return;
        }
        throw new ForwarderException(
            $"listener '{listener.Name}': UDP port {listener.Bind.Port} is already in use by {Holder(foreign.Inode)} (bound to {foreign.Local}): "
            + $"two programs on one port would split its datagrams between them; stop the other program or give this listener another port in bind");
    }

    private static string Holder(long inode)
    {
        foreach (var process in Directory.EnumerateDirectories("/proc"))
        {
            var pid = Path.GetFileName(process);
            if (pid.All(char.IsAsciiDigit) && SocketInodes(Path.Combine(process, "fd")).Contains(inode))
            {
                return $"process {pid} ({Comm(process)})";
            }
        }
        return "another process (one this user cannot see)";
    }

    private static string Comm(string process)
    {
        try
        {
            return File.ReadAllText(Path.Combine(process, "comm")).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "exited";
        }
    }

    /// <summary>The socket inodes a process's fd directory links to ("socket:[12345]"); empty when it cannot be read.</summary>
    private static HashSet<long> SocketInodes(string fdDirectory)
    {
        var inodes = new HashSet<long>();
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries(fdDirectory))
            {
                if (ReadLink(fd) is { } target && target.StartsWith("socket:[", StringComparison.Ordinal)
                    && long.TryParse(target.AsSpan(8, target.Length - 9), NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
                {
                    inodes.Add(inode);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process exited, or belongs to someone this one may not look at.
        }
        return inodes;
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
