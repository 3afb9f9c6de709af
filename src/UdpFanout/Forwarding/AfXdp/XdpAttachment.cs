using UdpFanout.Configuration;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// The steering program attached at XDP. Attaching replaces whatever program is there, so a start after a crash
/// takes over from the stale one; detach removes it.
/// </summary>
internal sealed class XdpAttachment : IDisposable
{
    private readonly int _ifindex;
    private readonly uint _flags;
    private bool _detached;

    private XdpAttachment(int ifindex, uint flags, bool native)
    {
        _ifindex = ifindex;
        _flags = flags;
        Native = native;
    }

    public bool Native { get; }

    /// <summary>False once detached: a stopping listener's stats no longer claim an attached program.</summary>
    public bool Attached => !Volatile.Read(ref _detached);

    /// <summary>Native (driver) mode first when <paramref name="mode"/> allows, else generic (skb) mode.</summary>
    public static XdpAttachment Attach(int ifindex, string ifname, int programFd, XdpAttachMode mode, Action<string> warn)
    {
        if (mode != XdpAttachMode.Skb)
        {
            var native = bpf_xdp_attach(ifindex, programFd, XDP_FLAGS_DRV_MODE, 0);
            if (native == 0)
            {
                return new XdpAttachment(ifindex, XDP_FLAGS_DRV_MODE, native: true);
            }
            if (mode == XdpAttachMode.Native)
            {
                throw Bpf.BpfException.For($"cannot attach the XDP program to {ifname} in native mode (xdp_mode: auto falls back to skb mode)", -native);
            }
            warn($"native XDP on {ifname} refused ({Interop.Libc.StrError(-native)}); using generic (skb) mode, which is slower");
        }
        var generic = bpf_xdp_attach(ifindex, programFd, XDP_FLAGS_SKB_MODE, 0);
        if (generic != 0)
        {
            throw Bpf.BpfException.For($"cannot attach the XDP program to {ifname}", -generic);
        }
        return new XdpAttachment(ifindex, XDP_FLAGS_SKB_MODE, native: false);
    }

    public void Dispose()
    {
        if (!_detached)
        {
            // Read by scrapes on other threads (Attached).
            Volatile.Write(ref _detached, true);
            bpf_xdp_detach(_ifindex, _flags, 0);
        }
    }
}
