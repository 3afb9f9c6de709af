using UdpFanout.Bpf;
using UdpFanout.Configuration;
using static Interop.Fanout;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// The one XDP slot of an interface, shared by every listener of this process on it (bpf/include/fanout_xdp_chain.h):
/// the chain's root program sits in the slot through a BPF link, and each listener's XDP program (an af_xdp
/// listener's steering, a tc_ebpf listener's XDP layer) takes a slot of the chain's prog array. One listener's
/// start never replaces another's program, and its stop removes only its own; the root goes with the last. The
/// link never replaces what another tool or process attached either: the kernel refuses it with EBUSY.
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
    private readonly bool[] _taken = new bool[FANOUT_XDP_CHAIN_SLOTS];

    private InterfaceXdpChain((string, int) key, BpfObject root, BpfLink link, bool native)
    {
        _key = key;
        _root = root;
        _link = link;
        _slots = root.Map(XDP_CHAIN_MAP_CHAIN);
        Native = native;
    }

    /// <summary>Whether the root attached in native (driver) mode rather than generic (skb) mode.</summary>
    public bool Native { get; }

    /// <summary>The XDP link, for a holder that keeps it across a restart (systemd's file descriptor store).</summary>
    public int LinkFd => _link.Fd;

    /// <summary>The chain's prog array, which each listener's object reuses before load.</summary>
    public int SlotsFd => _slots.Fd;

    /// <summary>
    /// Takes a slot in the chain of <paramref name="ifindex"/>, attaching the chain first if this process has none
    /// there: native mode first unless <paramref name="mode"/> says skb, generic mode after a refusal only when it
    /// says auto. A chain already attached in the other mode than <paramref name="mode"/> demands is refused.
    /// </summary>
    public static XdpChainSlot Join(int ifindex, string ifname, XdpAttachMode mode, Action<string> warn)
    {
        lock (Gate)
        {
            var key = (CurrentNetns.Name(), ifindex);
            if (!Live.TryGetValue(key, out var chain))
            {
                chain = Attach(key, ifname, mode, warn);
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

    /// <summary>Empties a slot; the last one out detaches the root. A stop path: never throws.</summary>
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
                _link.Dispose();
                _root.Dispose();
            }
        }
    }

    private static InterfaceXdpChain Attach((string, int) key, string ifname, XdpAttachMode mode, Action<string> warn)
    {
        var root = BpfObject.Open(BpfObjectLocator.Find(XDP_CHAIN_OBJECT));
        try
        {
            root.Load();
            var programFd = root.ProgramFd(XDP_CHAIN_PROGRAM);
            var what = $"the XDP chain to {ifname}";
            if (mode != XdpAttachMode.Skb)
            {
                try
                {
                    return new InterfaceXdpChain(key, root, BpfLink.CreateXdp(programFd, key.Item2, XDP_FLAGS_DRV_MODE, what + " in native mode"), native: true);
                }
                catch (BpfException e) when (mode == XdpAttachMode.Auto && e.Errno != Interop.Libc.EBUSY)
                {
                    warn($"native XDP on {ifname} refused ({Interop.Libc.StrError(e.Errno)}); using generic (skb) mode, which is slower");
                }
            }
            return new InterfaceXdpChain(key, root, BpfLink.CreateXdp(programFd, key.Item2, XDP_FLAGS_SKB_MODE, what), native: false);
        }
        catch (BpfException e) when (e.Errno == Interop.Libc.EBUSY)
        {
            root.Dispose();
            throw new BpfException($"{ifname} already has an XDP program that this process did not attach (another tool, or another udp-fanout): it is left alone; `ip link show {ifname}` names it ({e.Message})", e.Errno);
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }
}
