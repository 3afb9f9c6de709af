using System.Runtime.InteropServices;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Whether the kernel still has a BPF program, by id: BPF programs are not per network namespace, so "nothing of
/// ours is left" is best asked by the ids the test saw attached, not by listing every program on a shared machine.
/// </summary>
internal static partial class BpfPrograms
{
    private const int ENOENT = 2;

    /// <summary>True while a program with <paramref name="id"/> is loaded (attached, or held by any descriptor).</summary>
    public static bool Exists(uint id)
    {
        var fd = bpf_prog_get_fd_by_id(id);
        if (fd >= 0)
        {
            close(fd);
            return true;
        }
        var errno = Marshal.GetLastPInvokeError();
        Assert.True(errno == ENOENT, $"BPF_PROG_GET_FD_BY_ID {id}: errno {errno}");
        return false;
    }

    [LibraryImport("libbpf.so.1", SetLastError = true)]
    private static partial int bpf_prog_get_fd_by_id(uint id);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
