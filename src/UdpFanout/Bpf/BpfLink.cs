using System.Runtime.InteropServices;
using static Interop.Libbpf;

namespace UdpFanout.Bpf;

/// <summary>
/// A BPF link's file descriptor. The program stays attached while any descriptor of the link is open, this
/// process's or a copy in systemd's file descriptor store, and detaches when the last one closes: nothing can stay
/// attached after every holder is gone, which a tc filter or an XDP program attached through netlink could.
/// </summary>
internal sealed class BpfLink : SafeHandle
{
    public BpfLink(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    public int Fd => (int)handle;

    /// <summary>Attaches <paramref name="programFd"/> to <paramref name="ifindex"/> at <paramref name="attachType"/>, after the programs already there.</summary>
    public static BpfLink Create(int programFd, int ifindex, uint attachType, string what)
    {
        var fd = bpf_link_create(programFd, ifindex, attachType, 0);
        return fd >= 0 ? new BpfLink(fd) : throw BpfException.For($"cannot attach {what}", -fd);
    }

    /// <summary>
    /// Attaches <paramref name="programFd"/> to the XDP slot of <paramref name="ifindex"/> in the mode of
    /// <paramref name="flags"/> (XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE). Unlike a netlink attach it never
    /// replaces a program: with one there, whoever attached it, the kernel refuses with EBUSY.
    /// </summary>
    public static unsafe BpfLink CreateXdp(int programFd, int ifindex, uint flags, string what)
    {
        var opts = new bpf_link_create_opts { sz = (nuint)sizeof(bpf_link_create_opts), flags = flags };
        var fd = bpf_link_create(programFd, ifindex, BPF_XDP, &opts);
        return fd >= 0 ? new BpfLink(fd) : throw BpfException.For($"cannot attach {what}", -fd);
    }

    /// <summary>Attaches the tp_btf program <paramref name="programFd"/> at the tracepoint it was loaded for.</summary>
    public static BpfLink CreateTracing(int programFd, string what)
    {
        var fd = bpf_raw_tracepoint_open(null, programFd);
        return fd >= 0 ? new BpfLink(fd) : throw BpfException.For($"cannot attach {what}", -fd);
    }

    /// <summary>Runs <paramref name="programFd"/> instead of the link's program, atomically: every packet meets one or the other.</summary>
    public void Update(int programFd, string what)
    {
        var result = bpf_link_update(Fd, programFd, 0);
        if (result < 0)
        {
            throw BpfException.For($"cannot replace the program of {what}", -result);
        }
    }

    /// <summary>
    /// Detaches the link's program now, though other holders (systemd's store, which closes its copy only once it
    /// reads a removal) keep the link open: a link that is no longer wanted frees the slot before another attaches.
    /// </summary>
    public void Detach(string what)
    {
        var result = bpf_link_detach(Fd);
        if (result < 0)
        {
            throw BpfException.For($"cannot detach {what}", -result);
        }
    }

    /// <summary>What the kernel says the link is: its type, program and, for a tcx link, interface and direction.</summary>
    public unsafe bpf_link_info Info()
    {
        var info = new bpf_link_info();
        var length = (uint)sizeof(bpf_link_info);
        var result = bpf_obj_get_info_by_fd(Fd, &info, &length);
        return result == 0 ? info : throw BpfException.For("cannot read a BPF link's info", -result);
    }

    protected override bool ReleaseHandle() => Interop.Libc.close((int)handle) == 0;
}
