using System.Runtime.InteropServices;
using UdpFanout.Forwarding;
using static Interop.Libc;

namespace UdpFanout.Hosting;

/// <summary>Applies the config's <c>memlock:</c> (RLIMIT_MEMLOCK, which BPF maps and AF_XDP UMEM count against).</summary>
internal static unsafe class MemlockLimit
{
    public static void Apply(ulong? bytes)
    {
        if (bytes is not { } limit)
        {
            return;
        }
        var value = new rlimit { rlim_cur = limit, rlim_max = limit };
        if (setrlimit(RLIMIT_MEMLOCK, &value) != 0)
        {
            var shown = limit == RLIM_INFINITY ? "unlimited" : $"{limit} bytes";
            throw new ForwarderException($"memlock: cannot raise RLIMIT_MEMLOCK to {shown}: {StrError(Marshal.GetLastPInvokeError())} (grant CAP_SYS_RESOURCE, or set LimitMEMLOCK= in the unit and remove memlock: from the config)");
        }
    }
}
