using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Whether the kernel still has a BPF map, by id, and which maps a process holds: as with <see cref="BpfPrograms"/>,
/// asked by the ids a test saw, not by listing every map on a shared machine.
/// </summary>
internal static partial class BpfMaps
{
    private const int ENOENT = 2;

    /// <summary>enum bpf_map_type of an XSKMAP, as /proc's fdinfo of a map says it.</summary>
    private const int BPF_MAP_TYPE_XSKMAP = 17;

    /// <summary>True while a map with <paramref name="id"/> exists (held by a program, a descriptor or an AF_XDP socket in it).</summary>
    public static bool Exists(uint id)
    {
        var fd = bpf_map_get_fd_by_id(id);
        if (fd >= 0)
        {
            close(fd);
            return true;
        }
        var errno = Marshal.GetLastPInvokeError();
        Assert.True(errno == ENOENT, $"BPF_MAP_GET_FD_BY_ID {id}: errno {errno}");
        return false;
    }

    /// <summary>The ids of the XSKMAPs process <paramref name="pid"/> has a descriptor of (its /proc fdinfo).</summary>
    public static uint[] XskMapsOf(int pid) =>
        [.. Directory.GetFiles($"/proc/{pid}/fdinfo")
            .Select(f => { try { return File.ReadAllText(f); } catch (IOException) { return ""; } })
            .Select(info => FdinfoMap().Match(info))
            .Where(m => m.Success && int.Parse(m.Groups[1].Value) == BPF_MAP_TYPE_XSKMAP)
            .Select(m => uint.Parse(m.Groups[2].Value))
            .Distinct()];

    [GeneratedRegex(@"map_type:\s+(\d+)\n(?s:.*)map_id:\s+(\d+)")]
    private static partial Regex FdinfoMap();

    [LibraryImport("libbpf.so.1", SetLastError = true)]
    private static partial int bpf_map_get_fd_by_id(uint id);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
