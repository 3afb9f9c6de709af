using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using UdpFanout.Bpf;
using UdpFanout.Systemd;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// A listener's XSKMAP in the <see cref="FileDescriptorStore"/> (FDNAME=&lt;listener&gt;/xsks), for one case: a
/// crash. The kernel keeps every XSKMAP an AF_XDP socket was put in for as long as the socket lives (a reference per
/// map, dropped only when the socket's entry goes), and a kept socket outlives its process, so each crash would leave
/// the dead process's map in the kernel until the unit stops. The socket's <see cref="XskRecord"/> names the map by
/// id, but opening a map by id (BPF_MAP_GET_FD_BY_ID) takes CAP_SYS_ADMIN, which the unit does not grant; so the map
/// itself waits in the store, and the next start takes each socket it adopts out of it and closes it. A stop takes
/// its sockets out of its own map and removes the map from the store: only a crash leaves one there.
/// </summary>
internal sealed partial class KeptXskMap : IDisposable
{
    private KeptXskMap(int fd, uint id)
    {
        Fd = fd;
        Id = id;
    }

    public int Fd { get; }

    public uint Id { get; }

    public static string Name(string listener) => $"{listener}/xsks";

    /// <summary>The map the listener's last run kept in the store, or null (none kept: a first start, a stop before, no systemd).</summary>
    public static KeptXskMap? TakePrevious(FileDescriptorStore store, string listener) =>
        store.Take(Name(listener), Wrap, _ => true);

    /// <summary>
    /// Hands this run's map to the store in place of <paramref name="previous"/> (its sockets must be out of it by
    /// now; the caller closes it): before any socket goes in, so that a socket is never in a map the store does not
    /// hold. The store keeps its own copy of <paramref name="mapFd"/>, which stays the BPF object's.
    /// </summary>
    public static void Replace(FileDescriptorStore store, string listener, KeptXskMap? previous, int mapFd)
    {
        if (previous is not null)
        {
            // systemd's store removes by name: the old one goes before the new one comes.
            store.Forget(Name(listener));
        }
        store.Keep(Name(listener), mapFd);
    }

    /// <summary>
    /// Takes <paramref name="socket"/> of <paramref name="queue"/> out of this map when its record says it went in
    /// (the program's key is the queue). An entry already gone is fine; null on success, else the error. A socket
    /// whose record names another map is not in this one: the record is written before the insert, and the map kept
    /// before the record, so a run killed in between left no entry.
    /// </summary>
    public unsafe string? Remove(int queue, XskSocket socket)
    {
        if (socket.XskMapId != Id)
        {
            return null;
        }
        var key = (uint)queue;
        if (bpf_map_delete_elem(Fd, &key) == 0 || Marshal.GetLastPInvokeError() == Interop.Libc.ENOENT)
        {
            return null;
        }
        return Interop.Libc.StrError(Marshal.GetLastPInvokeError());
    }

    public void Dispose() => Interop.Libc.close(Fd);

    /// <summary>The id of the map <paramref name="fd"/> refers to, or 0 when it is not an XSKMAP.</summary>
    public static uint IdOf(int fd) => BpfMap.ReadInfo(fd, out var info) == 0 && info.type == BPF_MAP_TYPE_XSKMAP ? info.id : 0;

    private static KeptXskMap Wrap(int fd)
    {
        var id = IdOf(fd);
        // The store logs and closes what is not what its name says.
        return id != 0 ? new KeptXskMap(fd, id) : throw new IOException("not an XSKMAP");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: the kept AF_XDP socket of queue {Queue} could not be taken out of the previous process's XSKMAP {MapId} ({Error}): that map stays in the kernel until the unit stops (afxdp_xskmap_release_failures_total)")]
    public static partial void LogReleaseFailed(ILogger logger, string listener, int queue, uint mapId, string error);
}
