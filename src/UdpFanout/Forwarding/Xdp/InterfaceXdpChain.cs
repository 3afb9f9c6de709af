using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Systemd;
using static Interop.Fanout;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// The one XDP slot of an interface, shared by every listener of this process on it (bpf/include/fanout_xdp_chain.h):
/// the chain's root program sits in the slot through a BPF link, and each listener's XDP program (an af_xdp
/// listener's steering, a tc_ebpf listener's XDP layer) takes a slot of the chain's prog array. One listener's
/// start never replaces another's program, and its stop removes only its own; the root goes with the last. The
/// link never replaces what another tool or process attached either: the kernel refuses it with EBUSY.
/// The link is kept in the <see cref="FileDescriptorStore"/>, one per interface: under systemd it stays attached
/// across a restart, with a chain emptied as the last listener's program and maps closed (a prog array clears when
/// no process holds it), so the interface's frames pass to the stack meanwhile; the next start swaps a fresh root
/// in atomically. Attaching and detaching native XDP reconfigures a device's rings (veth, many NIC drivers) and
/// drops the frames in flight; swapping a link's program does not. When systemd flushes the store (stop, removal)
/// the kernel detaches the root by itself.
/// </summary>
internal sealed class InterfaceXdpChain
{
    /// <summary>Joins and leaves of this process's listeners one at a time, so none leaves a chain another is joining.</summary>
    private static readonly Lock Gate = new();

    /// <summary>The chains of this process, by network namespace (interface indexes are per namespace) and interface.</summary>
    private static readonly Dictionary<(string Namespace, int Ifindex), InterfaceXdpChain> Live = [];

    private readonly (string Namespace, int Ifindex) _key;
    private readonly BpfObject _root;
    private readonly BpfLink _link;
    private readonly BpfMap _slots;
    private readonly FileDescriptorStore _store;
    private readonly string _storeName;
    private readonly bool[] _taken = new bool[FANOUT_XDP_CHAIN_SLOTS];

    private InterfaceXdpChain((string, int) key, BpfObject root, BpfLink link, bool native, FileDescriptorStore store, string storeName)
    {
        _key = key;
        _root = root;
        _link = link;
        _slots = root.Map(XDP_CHAIN_MAP_CHAIN);
        Native = native;
        _store = store;
        _storeName = storeName;
    }

    /// <summary>Whether the root attached in native (driver) mode rather than generic (skb) mode.</summary>
    public bool Native { get; }

    /// <summary>The chain's prog array, which each listener's object reuses before load.</summary>
    public int SlotsFd => _slots.Fd;

    /// <summary>
    /// The link's name in systemd's file descriptor store. A listener's own names begin with the listener's name and
    /// a '/', and listener names have no '@': the two never meet.
    /// </summary>
    public static string StoreName(string ifname) => $"xdp@{ifname}";

    /// <summary>
    /// Takes a slot in the chain of <paramref name="ifindex"/>, attaching the chain first if this process has none
    /// there: on the link kept in <paramref name="store"/> when it runs in a mode <paramref name="mode"/> allows, else
    /// native mode first unless <paramref name="mode"/> says skb, generic mode after a refusal only when it says auto.
    /// A chain already attached in the other mode than <paramref name="mode"/> demands is refused.
    /// </summary>
    public static XdpChainSlot Join(int ifindex, string ifname, XdpAttachMode mode, FileDescriptorStore store, Action<string> warn)
    {
        lock (Gate)
        {
            var key = (CurrentNetns.Name(), ifindex);
            if (!Live.TryGetValue(key, out var chain))
            {
                chain = TakeOver(key, ifname, mode, store) ?? Attach(key, ifname, mode, store, warn);
                Live[key] = chain;
            }
            else if ((mode == XdpAttachMode.Native && !chain.Native) || (mode == XdpAttachMode.Skb && chain.Native))
            {
                throw new BpfException($"{ifname} already runs this process's other listeners' XDP programs in {(chain.Native ? "native" : "skb")} mode, and an interface has one mode (set xdp_mode: auto or {(chain.Native ? "native" : "skb")})", Interop.Libc.EINVAL);
            }
            var slot = Array.IndexOf(chain._taken, false);
            if (slot < 0)
            {
                throw new BpfException($"{ifname} already has {FANOUT_XDP_CHAIN_SLOTS} listener XDP programs, the most one interface chains", Interop.Libc.ENOSPC);
            }
            chain._taken[slot] = true;
            return new XdpChainSlot(chain, (uint)slot);
        }
    }

    /// <summary>Puts a loaded listener program in its slot: from now on it sees the interface's frames.</summary>
    public void Fill(uint slot, int programFd) => _slots.Update(slot, programFd);

    /// <summary>
    /// Empties a slot; the last one out closes the root and gives the link back to the store (under systemd it stays
    /// attached with the chain empty, everything passing to the stack; else it detaches now). A stop path: never throws.
    /// </summary>
    public void Leave(uint slot)
    {
        lock (Gate)
        {
            if (!_taken[slot])
            {
                return;
            }
            _taken[slot] = false;
            _slots.TryDelete(slot);
            if (!_taken.Contains(true))
            {
                Live.Remove(_key);
                _store.Return(_storeName, _link);
                _root.Dispose();
            }
        }
    }

    /// <summary>
    /// A fresh root on the link the store kept for <paramref name="ifname"/>, swapped in atomically, or null when
    /// there is none (or another interface's, which the store closes). The fresh root's chain is empty until a
    /// listener fills its slot: frames pass to the stack, to the listener's kept fallback socket, and never meet a
    /// detached slot. A kept link in a mode <paramref name="mode"/> does not allow is detached and dropped, so that
    /// the chain attaches anew in the mode the config now asks for.
    /// </summary>
    private static InterfaceXdpChain? TakeOver((string, int Ifindex) key, string ifname, XdpAttachMode mode, FileDescriptorStore store)
    {
        var name = StoreName(ifname);
        bool? native = null;
        var link = store.Take(name, fd => new BpfLink(fd), kept => (native = AttachedNative(kept, key.Ifindex, ifname)) is not null);
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
            return new InterfaceXdpChain(key, root, link, native.Value, store, name);
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

    private static InterfaceXdpChain Attach((string, int) key, string ifname, XdpAttachMode mode, FileDescriptorStore store, Action<string> warn)
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
                    (link, native) = (BpfLink.CreateXdp(programFd, key.Item2, XDP_FLAGS_DRV_MODE, what + " in native mode"), true);
                }
                catch (BpfException e) when (mode == XdpAttachMode.Auto && e.Errno != Interop.Libc.EBUSY)
                {
                    warn($"native XDP on {ifname} refused ({Interop.Libc.StrError(e.Errno)}); using generic (skb) mode, which is slower");
                }
            }
            link ??= BpfLink.CreateXdp(programFd, key.Item2, XDP_FLAGS_SKB_MODE, what);
            var name = StoreName(ifname);
            store.Keep(name, link.Fd);
            return new InterfaceXdpChain(key, root, link, native, store, name);
        }
        catch (BpfException e) when (e.Errno == Interop.Libc.EBUSY)
        {
            root.Dispose();
            throw new BpfException($"{ifname} already has an XDP program that this process did not attach (another tool, or another udp-fanout): it is left alone; `ip link show {ifname}` names it ({e.Message})", e.Errno);
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

    private static bool Allows(XdpAttachMode mode, bool native) => mode == XdpAttachMode.Auto || native == (mode == XdpAttachMode.Native);

    /// <summary>
    /// Whether <paramref name="link"/> is an XDP link on <paramref name="ifindex"/> of this network namespace in native
    /// mode (true) or generic mode (false); null when it is not. The link's info names its program and interface but
    /// not its mode, and the interface's XDP slot reports its program per mode: the link's program says which.
    /// </summary>
    private static unsafe bool? AttachedNative(BpfLink link, int ifindex, string ifname)
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
