using UdpFanout.Model;

namespace UdpFanout.Bpf;

/// <summary>A libbpf or bpf(2) call failed; the message says what failed, the errno, and what to do.</summary>
internal sealed class BpfException(string message, int errno) : UserFixableException(message)
{
    public int Errno { get; } = errno;

    /// <summary>Builds the message for a failed call, with a hint for the errnos that have a usual cause.</summary>
    public static BpfException For(string what, int errno, string? log = null)
    {
        var hint = errno switch
        {
            Interop.Libc.EPERM => " (missing CAP_BPF and CAP_NET_ADMIN: run as root or grant them, e.g. AmbientCapabilities= in the unit; raise RLIMIT_MEMLOCK on kernels before 5.11)",
            Interop.Libc.ENOENT => " (not found)",
            _ => "",
        };
        var text = $"{what}: {Interop.Libc.StrError(errno)}{hint}";
        if (!string.IsNullOrWhiteSpace(log))
        {
            text += Environment.NewLine + "libbpf said:" + Environment.NewLine + log.TrimEnd();
        }
        return new BpfException(text, errno);
    }
}
