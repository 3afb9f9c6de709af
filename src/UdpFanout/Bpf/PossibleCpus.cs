namespace UdpFanout.Bpf;

internal static class PossibleCpus
{
    /// <summary>How many values a per-CPU map holds per key (possible CPUs, not online ones).</summary>
    public static int Count { get; } = Interop.Libbpf.libbpf_num_possible_cpus() is > 0 and var n
        ? n
        : throw new BpfException("cannot read /sys/devices/system/cpu/possible", Interop.Libc.ENOENT);
}
