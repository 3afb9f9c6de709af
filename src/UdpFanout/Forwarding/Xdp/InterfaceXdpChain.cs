using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Systemd;
using static Interop.Fanout;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// The one XDP slot of an interface, shared by every listener on it, of this process and of the others (under systemd
/// each listener is a process of its own; bpf/include/fanout_xdp_chain.h): the chain's root program sits in the slot
/// through a BPF link, and each listener's XDP program (an af_xdp listener's steering, a tc_ebpf listener's XDP layer)
/// takes a slot of the chain's prog array. One listener's start never replaces another's program, and its stop removes
/// only its own; the root goes with the last. The link never replaces what another tool attached either: the kernel
/// refuses it with EBUSY.
/// The chain is pinned in the BPF filesystem (<see cref="XdpChainPins"/>), where every process finds it, with who holds
/// which slot; the <see cref="XdpPinLock"/> makes every process's joins and leaves one at a time. Where no BPF
/// filesystem is mounted (`ip netns exec` mounts a /sys of its own) the chain is this process's alone, and a slot
/// that another process holds is refused with that reason.
/// This process's descriptor of the link is also kept in the <see cref="FileDescriptorStore"/>: the pins hold the chain
/// while any listener runs on the interface, and when the last one restarts under systemd, the store keeps the link
/// attached with its chain emptied (a prog array clears when nothing holds it), so the interface's frames pass to the
/// stack meanwhile and the next start swaps a fresh root in atomically. Attaching and detaching native XDP reconfigures
/// a device's rings (veth, many NIC drivers) and drops the frames in flight; swapping a link's program does not. When
/// systemd flushes the store (stop, removal) the kernel detaches the root by itself.
/// </summary>
internal sealed class InterfaceXdpChain
{
    /// <summary>Joins and leaves of this process's listeners one at a time, so none leaves a chain another is joining.</summary>
    private static readonly Lock Gate = new();

    /// <summary>The chains of this process, by network namespace (interface indexes are per namespace) and interface.</summary>
    private static readonly Dictionary<(string Namespace, int Ifindex), InterfaceXdpChain> Live = [];

    private readonly (string, int) _key;
    private readonly string _ifname;
    private readonly BpfLink _link;
    private readonly int _chainFd;
    private readonly IDisposable _chainHolder;
    private readonly string? _pinned;
    private readonly XdpChainOwners? _owners;
    private readonly FileDescriptorStore _store;
    private readonly string _storeName;
    private readonly string?[] _listeners = new string?[FANOUT_XDP_CHAIN_SLOTS];

    private InterfaceXdpChain((string, int) key, string ifname, BpfLink link, bool native, int chainFd, IDisposable chainHolder, string? pinned, XdpChainOwners? owners, FileDescriptorStore store)
    {
        _key = key;
        _ifname = ifname;
        _link = link;
        Native = native;
        _chainFd = chainFd;
        _chainHolder = chainHolder;
        _pinned = pinned;
        _owners = owners;
        _store = store;
        _storeName = StoreName(ifname);
    }

    /// <summary>Whether the root attached in native (driver) mode rather than generic (skb) mode.</summary>
    public bool Native { get; }

    /// <summary>The chain's prog array, which each listener's object reuses before load.</summary>
    public int SlotsFd => _chainFd;

    /// <summary>
    /// The link's name in systemd's file descriptor store. A listener's own names begin with the listener's name and
    /// a '/', and listener names have no '@': the two never meet.
    /// </summary>
    public static string StoreName(string ifname) => $"xdp@{ifname}";

    /// <summary>
    /// Takes a slot for <paramref name="listener"/> in the chain of <paramref name="ifindex"/>: the pinned chain when
    /// one is there, else one attached now: on the link kept in <paramref name="store"/> when it runs in a mode
    /// <paramref name="mode"/> allows, else native mode first unless <paramref name="mode"/> says skb, generic mode
    /// after a refusal only when it says auto. A chain already attached in the other mode than <paramref name="mode"/>
    /// demands is refused. A listener that held a slot before (its process was restarted or killed) takes the same one.
    /// </summary>
    public static XdpChainSlot Join(int ifindex, string ifname, string listener, XdpAttachMode mode, FileDescriptorStore store, Action<string> warn)
    {
        lock (Gate)
        {
            var key = (CurrentNetns.Name(), ifindex);
            var chains = XdpPinRoot.Prepare();
            using var pinLock = chains is null ? null : XdpPinLock.Take(chains);
            if (!Live.TryGetValue(key, out var chain))
            {
                if (chains is null)
                {
                    // Said only where it matters: one process (the DaemonSet's) needs no pins to share the slot.
                    try
                    {
                        chain = Attached(key, ifname, mode, store, warn);
                    }
                    catch (BpfException e) when (e.Errno == Interop.Libc.EBUSY)
                    {
                        throw new BpfException($"{e.Message}; this process pins no XDP chain, since {XdpPinRoot.Path} is not on a BPF filesystem, so it cannot share the slot with listeners of other processes (mount one at /sys/fs/bpf, as systemd does at boot, and create {XdpPinRoot.Default}: systemd-tmpfiles --create udp-fanout.conf)", e.Errno);
                    }
                }
                else
                {
                    chain = OpenPinned(key, ifname, mode, store, XdpChainPins.DirectoryOf(chains, ifindex), warn)
                        ?? Pin(Attached(key, ifname, mode, store, warn), XdpChainPins.DirectoryOf(chains, ifindex));
                }
                Live[key] = chain;
            }
            else if ((mode == XdpAttachMode.Native && !chain.Native) || (mode == XdpAttachMode.Skb && chain.Native))
            {
                throw ModeRefused(ifname, chain.Native);
            }
            try
            {
                return new XdpChainSlot(chain, chain.Take(listener, warn), warn);
            }
            catch
            {
                chain.CloseIfUnused();
                throw;
            }
        }
    }

    /// <summary>Puts a loaded listener program in its slot: from now on it sees the interface's frames (instead of the program before, atomically).</summary>
    public unsafe void Fill(uint slot, int programFd)
    {
        if (bpf_map_update_elem(_chainFd, &slot, &programFd, BPF_ANY) != 0)
        {
            throw BpfException.For($"cannot put a listener's program in slot {slot} of the XDP chain of {_ifname}", System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Empties a slot; the last listener of the interface unpins the chain, and the last of this process closes its
    /// descriptors and gives the link back to the store (under systemd it stays attached with the chain empty,
    /// everything passing to the stack; else it detaches now, unless another process still holds it). A stop path:
    /// never throws, says what failed through <paramref name="warn"/>.
    /// </summary>
    public unsafe void Leave(uint slot, Action<string> warn)
    {
        lock (Gate)
        {
            if (_listeners[slot] is not { } listener)
            {
                return;
            }
            try
            {
                using var pinLock = _pinned is null ? null : XdpPinLock.Take(Path.GetDirectoryName(_pinned)!);
                var key = slot;
                bpf_map_delete_elem(_chainFd, &key);
                if (_owners?.Held().Any(h => h.Slot == slot && h.Pid == Environment.ProcessId) == true)
                {
                    _owners.Clear(slot);
                }
                _listeners[slot] = null;
                CloseIfUnused();
            }
            catch (Exception e) when (e is BpfException or IOException or UnauthorizedAccessException)
            {
                warn($"listener '{listener}' left slot {slot} of the XDP chain of {_ifname}, but its pins were not updated: {e.Message} (`udp-fanout release` tidies them once its process is gone)");
                _listeners[slot] = null;
                CloseIfUnused(unpin: false);
            }
        }
    }

    /// <summary>
    /// The slot of <paramref name="listener"/>: the one it held in a pinned chain when its process is gone (or this
    /// one), else a free one; in a pinned chain, a slot whose process is gone is freed first (its program out).
    /// </summary>
    private uint Take(string listener, Action<string> warn)
    {
        if (_owners is null)
        {
            var free = Array.IndexOf(_listeners, null);
            return free >= 0 ? Claim((uint)free, listener) : throw Full();
        }
        var held = _owners.Held();
        if (held.FirstOrDefault(h => h.Listener == listener) is { Listener: not null } own)
        {
            if (own.Pid != Environment.ProcessId && _owners.HeldBy(own.Pid))
            {
                throw new BpfException($"listener '{listener}' already holds slot {own.Slot} of the XDP chain of {_ifname}, for process {own.Pid}, which still runs: one listener runs in one process at a time (stop the other one first)", Interop.Libc.EBUSY);
            }
            _owners.Set(own.Slot, listener, Environment.ProcessId);
            return Claim(own.Slot, listener);
        }
        foreach (var (slot, other, pid) in held.Where(h => !_owners.HeldBy(h.Pid)))
        {
            Release(_chainFd, _owners, slot);
            warn($"slot {slot} of the XDP chain of {_ifname} held listener '{other}' of process {pid}, which is gone: its program is out");
        }
        var taken = _owners.Held().Select(h => h.Slot).ToHashSet();
        for (var slot = 0u; slot < FANOUT_XDP_CHAIN_SLOTS; slot++)
        {
            if (!taken.Contains(slot))
            {
                _owners.Set(slot, listener, Environment.ProcessId);
                return Claim(slot, listener);
            }
        }
        throw Full();
    }

    /// <summary>Empties slot <paramref name="slot"/> of a chain and its owner: what a gone process left there.</summary>
    public static unsafe void Release(int chainFd, XdpChainOwners owners, uint slot)
    {
        bpf_map_delete_elem(chainFd, &slot);
        owners.Clear(slot);
    }

    private uint Claim(uint slot, string listener)
    {
        _listeners[slot] = listener;
        return slot;
    }

    private BpfException Full() =>
        new($"{_ifname} already has {FANOUT_XDP_CHAIN_SLOTS} listener XDP programs, the most one interface chains (`udp-fanout release` frees the slots of listeners whose process is gone)", Interop.Libc.ENOSPC);

    private static BpfException ModeRefused(string ifname, bool native) =>
        new($"{ifname} already runs other listeners' XDP programs in {(native ? "native" : "skb")} mode, and an interface has one mode (set xdp_mode: auto or {(native ? "native" : "skb")})", Interop.Libc.EINVAL);

    /// <summary>
    /// When no listener of this process holds a slot any more, the process lets the chain go; and when no listener of
    /// any process does, the chain's pins go too. Under the pin lock.
    /// </summary>
    private void CloseIfUnused(bool unpin = true)
    {
        if (_listeners.Any(l => l is not null))
        {
            return;
        }
        Live.Remove(_key);
        // Only this chain's pins: after its interface went, the directory may hold a new interface's chain by now.
        if (unpin && _pinned is not null && _owners!.Held().Count == 0 && XdpChainPins.LinkId(_pinned) == _link.Info().id)
        {
            XdpChainPins.Remove(_pinned);
        }
        _store.Return(_storeName, _link);
        _owners?.Dispose();
        _chainHolder.Dispose();
    }

    /// <summary>A chain of this process alone: its root on the link the store kept, or on a new one.</summary>
    private static InterfaceXdpChain Attached((string, int Ifindex) key, string ifname, XdpAttachMode mode, FileDescriptorStore store, Action<string> warn)
    {
        var (link, native, root) = XdpChainRoot.TakeOver(key.Ifindex, ifname, mode, store) ?? XdpChainRoot.Attach(key.Ifindex, ifname, mode, store, warn);
        return new InterfaceXdpChain(key, ifname, link, native, root.Map(XDP_CHAIN_MAP_CHAIN).Fd, root, null, null, store);
    }

    /// <summary>
    /// The chain pinned in <paramref name="directory"/>, with this process's descriptors of it; null when there is
    /// none, or it is stale (its interface is gone, or a process was killed while it pinned), which is removed.
    /// </summary>
    private static InterfaceXdpChain? OpenPinned((string, int Ifindex) key, string ifname, XdpAttachMode mode, FileDescriptorStore store, string directory, Action<string> warn)
    {
        var pins = XdpChainPins.Open(directory);
        if (pins is null)
        {
            XdpChainPins.Remove(directory);
            return null;
        }
        var link = pins.Link;
        try
        {
            if (XdpChainRoot.AttachedNative(link, key.Ifindex, ifname) is not { } native)
            {
                warn($"{directory} held the XDP chain of an interface that is gone: removed");
                XdpChainPins.Remove(directory);
                link.Dispose();
                pins.Dispose();
                return null;
            }
            if (!XdpChainRoot.Allows(mode, native))
            {
                throw ModeRefused(ifname, native);
            }
            // This process's last run kept the same link in the store: that copy stays, as the one this process holds.
            var id = link.Info().id;
            var name = StoreName(ifname);
            if (store.Take(name, fd => new BpfLink(fd), kept => kept.Info() is { type: BPF_LINK_TYPE_XDP } info && info.id == id) is { } kept)
            {
                link.Dispose();
                link = kept;
            }
            else
            {
                store.Keep(name, link.Fd);
            }
            return new InterfaceXdpChain(key, ifname, link, native, (int)pins.Chain.DangerousGetHandle(), pins.Chain, directory, pins.Owners, store);
        }
        catch
        {
            link.Dispose();
            pins.Dispose();
            throw;
        }
    }

    /// <summary>Pins a chain this process just attached, with an empty map of owners; on failure lets it go.</summary>
    private static InterfaceXdpChain Pin(InterfaceXdpChain local, string directory)
    {
        XdpChainOwners? owners = null;
        try
        {
            owners = XdpChainOwners.Create();
            XdpChainPins.Pin(directory, local._link, local._chainFd, owners);
            return new InterfaceXdpChain(local._key, local._ifname, local._link, local.Native, local._chainFd, local._chainHolder, directory, owners, local._store);
        }
        catch
        {
            // Detached now, not kept in the store: a chain that cannot be shared must not hold the slot.
            owners?.Dispose();
            local._store.Drop(local._storeName, local._link);
            local._chainHolder.Dispose();
            throw;
        }
    }
}
