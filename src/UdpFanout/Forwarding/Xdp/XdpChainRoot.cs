using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Systemd;
using static Interop.Fanout;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// The root of an interface's <see cref="InterfaceXdpChain"/> in the interface's XDP slot: swapped into the link the
/// <see cref="FileDescriptorStore"/> kept across a restart, or attached through a new link, in the mode the listener
/// allows; and what mode a link runs in.
/// </summary>
internal static class XdpChainRoot
{
    /// <summary>
    /// A fresh root on the link the store kept for <paramref name="ifname"/>, swapped in atomically, or null when
    /// there is none (or another interface's, which the store closes). The fresh root's chain is empty until a
    /// listener fills its slot: frames pass to the stack, to the listener's kept fallback socket, and never meet a
    /// detached slot. A kept link in a mode <paramref name="mode"/> does not allow is detached and dropped, so that
    /// the chain attaches anew in the mode the config now asks for.
    /// </summary>
    public static (BpfLink Link, bool Native, BpfObject Root)? TakeOver(int ifindex, string ifname, XdpAttachMode mode, FileDescriptorStore store)
    {
        var name = InterfaceXdpChain.StoreName(ifname);
        bool? native = null;
        var link = store.Take(name, fd => new BpfLink(fd), kept => (native = AttachedNative(kept, ifindex, ifname)) is not null);
        if (link is null)
        {
            return null;
        }
        var what = $"the XDP chain of {ifname}";
        BpfObject? root = null;
        try
        {
            if (!Allows(mode, native!.Value))
            {
                // Now, not when systemd gets to the removal and closes its copy: the slot takes one mode at a time.
                link.Detach(what);
                store.Drop(name, link);
                return null;
            }
            root = LoadRoot();
            link.Update(root.ProgramFd(XDP_CHAIN_PROGRAM), what);
            return (link, native.Value, root);
        }
        catch
        {
            // Back to the store, attached with the chain its last process emptied: everything passes to the stack,
            // and the store closes it once the config is applied without it (outside systemd, now).
            store.Return(name, link);
            root?.Dispose();
            throw;
        }
    }

    public static (BpfLink Link, bool Native, BpfObject Root) Attach(int ifindex, string ifname, XdpAttachMode mode, FileDescriptorStore store, Action<string> warn)
    {
        var root = LoadRoot();
        var (link, native) = (default(BpfLink), false);
        try
        {
            var programFd = root.ProgramFd(XDP_CHAIN_PROGRAM);
            var what = $"the XDP chain to {ifname}";
            if (mode != XdpAttachMode.Skb)
            {
                try
                {
                    (link, native) = (BpfLink.CreateXdp(programFd, ifindex, XDP_FLAGS_DRV_MODE, what + " in native mode"), true);
                }
                catch (BpfException e) when (mode == XdpAttachMode.Auto && e.Errno != Interop.Libc.EBUSY)
                {
                    warn($"native XDP on {ifname} refused ({Interop.Libc.StrError(e.Errno)}); using generic (skb) mode, which is slower");
                }
            }
            link ??= BpfLink.CreateXdp(programFd, ifindex, XDP_FLAGS_SKB_MODE, what);
            store.Keep(InterfaceXdpChain.StoreName(ifname), link.Fd);
            return (link, native, root);
        }
        catch (BpfException e) when (e.Errno == Interop.Libc.EBUSY)
        {
            root.Dispose();
            throw new BpfException($"{ifname} already has an XDP program that no udp-fanout listener of this host shares (another tool, a udp-fanout whose chain is not pinned, or the last listener of {ifname} restarting): it is left alone; `ip link show {ifname}` names it ({e.Message})", e.Errno);
        }
        catch
        {
            link?.Dispose();
            root.Dispose();
            throw;
        }
    }

    private static BpfObject LoadRoot()
    {
        var root = BpfObject.Open(BpfObjectLocator.Find(XDP_CHAIN_OBJECT));
        try
        {
            root.Load();
            return root;
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    public static bool Allows(XdpAttachMode mode, bool native) => mode == XdpAttachMode.Auto || native == (mode == XdpAttachMode.Native);

    /// <summary>
    /// Whether <paramref name="link"/> is an XDP link on <paramref name="ifindex"/> of this network namespace in native
    /// mode (true) or generic mode (false); null when it is not. The link's info names its program and interface but
    /// not its mode, and the interface's XDP slot reports its program per mode: the link's program says which.
    /// </summary>
    public static unsafe bool? AttachedNative(BpfLink link, int ifindex, string ifname)
    {
        // For an XDP link, the union's first word is xdp.ifindex (0 once its interface is gone).
        if (link.Info() is not { type: BPF_LINK_TYPE_XDP } info || info.tcx_ifindex != (uint)ifindex)
        {
            return null;
        }
        var slot = new bpf_xdp_query_opts { sz = (nuint)sizeof(bpf_xdp_query_opts) };
        var result = bpf_xdp_query(ifindex, 0, &slot);
        if (result < 0)
        {
            throw BpfException.For($"cannot ask which XDP program {ifname} runs", -result);
        }
        return info.prog_id == slot.drv_prog_id ? true : info.prog_id == slot.skb_prog_id ? false : null;
    }
}
