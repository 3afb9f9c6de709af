using UdpFanout.Bpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// Where the daemon pins the interfaces' XDP chains in a BPF filesystem, so that every process on the host (one per
/// listener under systemd) finds and shares them: <c>&lt;root&gt;/xdp/&lt;netns inode&gt;-&lt;ifindex&gt;/</c>.
/// The root is /sys/fs/bpf/udp-fanout, or UDP_FANOUT_BPF_PINS: the packaged unit binds the root to a path its user can
/// reach, since systemd mounts /sys/fs/bpf with mode 0700.
/// </summary>
internal static class XdpPinRoot
{
    public const string Default = "/sys/fs/bpf/udp-fanout";

    public const string Variable = "UDP_FANOUT_BPF_PINS";

    public static string Path => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } path ? path : Default;

    /// <summary>The directory of the chains, whose lock serialises every process's joins and leaves.</summary>
    public static string Chains => System.IO.Path.Combine(Path, "xdp");

    /// <summary>
    /// Creates the chains' directory when the root lies on a BPF filesystem and returns it; null when no BPF
    /// filesystem is there (not mounted, or `ip netns exec`, which mounts a /sys of its own): the caller then keeps
    /// its chains to its own process. A BPF filesystem the process may not write to is an error with what to do.
    /// </summary>
    public static string? Prepare()
    {
        var root = Path;
        var probe = Directory.Exists(root) ? root : System.IO.Path.GetDirectoryName(root) ?? "/";
        if (!IsBpfFs(probe))
        {
            return null;
        }
        try
        {
            Directory.CreateDirectory(Chains);
            return Chains;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw Unusable("create", e);
        }
    }

    /// <summary>
    /// The chains' directory when it exists, for `release`, which creates nothing (run by root, it would leave a
    /// directory that the daemon's user cannot write to); null when nothing was ever pinned there. A directory the
    /// process cannot reach is an error with what to do.
    /// </summary>
    public static string? Existing()
    {
        try
        {
            File.GetAttributes(Chains);
            return Chains;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException e)
        {
            throw Unusable("open", e);
        }
    }

    private static BpfException Unusable(string what, Exception e) =>
        new($"cannot {what} {Chains}, where the interfaces' XDP chains are pinned for every udp-fanout process to share ({e.Message}): give the daemon's user that directory (the package's tmpfiles.d entry creates {Default} for the user udp-fanout; `systemd-tmpfiles --create udp-fanout.conf`), or set {Variable} to a writable directory on a BPF filesystem", Interop.Libc.EACCES);

    private static unsafe bool IsBpfFs(string path)
    {
        var info = default(Interop.Libc.statfs);
        return Interop.Libc.statfs_path(path, &info) == 0 && info.f_type == Interop.Libc.BPF_FS_MAGIC;
    }
}
