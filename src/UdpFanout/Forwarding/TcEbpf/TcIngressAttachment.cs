using static Interop.Libbpf;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// The program attached at an interface's clsact ingress. The filter always has the same handle and priority,
/// so a start after a crash replaces the stale program instead of stacking a second one; the clsact qdisc is
/// removed on detach only when this attachment created it.
/// </summary>
internal sealed unsafe class TcIngressAttachment : IDisposable
{
    /// <summary>"fa" for fan-out; fixed so a restart finds and replaces its predecessor.</summary>
    public const uint FilterHandle = 0xfa;
    public const uint FilterPriority = 0xfa;

    private readonly int _ifindex;
    private readonly bool _createdQdisc;
    private bool _detached;

    private TcIngressAttachment(int ifindex, bool createdQdisc)
    {
        _ifindex = ifindex;
        _createdQdisc = createdQdisc;
    }

    public static TcIngressAttachment Attach(int ifindex, string ifname, int programFd)
    {
        var hook = Hook(ifindex, BPF_TC_INGRESS);
        var created = bpf_tc_hook_create(&hook);
        if (created < 0 && -created != Interop.Libc.EEXIST)
        {
            throw Bpf.BpfException.For($"cannot create the clsact qdisc on {ifname}", -created);
        }
        var opts = Opts(programFd, BPF_TC_F_REPLACE);
        var attached = bpf_tc_attach(&hook, &opts);
        if (attached < 0)
        {
            if (created == 0)
            {
                DestroyQdisc(ifindex);
            }
            throw Bpf.BpfException.For($"cannot attach the tc program to {ifname} ingress", -attached);
        }
        return new TcIngressAttachment(ifindex, created == 0);
    }

    public void Dispose()
    {
        if (_detached)
        {
            return;
        }
        _detached = true;
        var hook = Hook(_ifindex, BPF_TC_INGRESS);
        var opts = Opts(0, 0);
        bpf_tc_detach(&hook, &opts);
        if (_createdQdisc)
        {
            DestroyQdisc(_ifindex);
        }
    }

    private static void DestroyQdisc(int ifindex)
    {
        // Both attach points together name the clsact qdisc itself.
        var hook = Hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
    }

    private static bpf_tc_hook Hook(int ifindex, int attachPoint) =>
        new() { sz = (nuint)sizeof(bpf_tc_hook), ifindex = ifindex, attach_point = attachPoint };

    private static bpf_tc_opts Opts(int programFd, uint flags) =>
        new() { sz = (nuint)sizeof(bpf_tc_opts), prog_fd = programFd, flags = flags, handle = FilterHandle, priority = FilterPriority };
}
