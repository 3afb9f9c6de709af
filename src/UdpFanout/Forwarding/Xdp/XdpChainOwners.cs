using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using UdpFanout.Bpf;
using static Interop.Fanout;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// Who holds which slot of a pinned XDP chain: an array map beside the chain, one entry per slot, the listener's name
/// and its process's id (0: free). Only the daemon reads it, never a BPF program. A listener that starts again takes
/// the slot its name holds, so its new program replaces the old one atomically; a process that is gone (a crash, a
/// kill) gives its slots up to <see cref="XdpChainRelease"/>. Read and written under the <see cref="XdpPinLock"/>.
/// </summary>
internal sealed class XdpChainOwners : IDisposable
{
    private const int NameBytes = 64;

    private readonly SafeFileHandle _map;

    // The map's id, which every holder's descriptor of it shows in its fdinfo.
    private readonly Lazy<uint> _id;

    private XdpChainOwners(SafeFileHandle map)
    {
        _map = map;
        _id = new Lazy<uint>(Id);
    }

    public int Fd => (int)_map.DangerousGetHandle();

    /// <summary>A new, empty map of <see cref="FANOUT_XDP_CHAIN_SLOTS"/> entries.</summary>
    public static unsafe XdpChainOwners Create()
    {
        var fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xdp_chain_owner", sizeof(uint), (uint)sizeof(xdp_chain_owner), FANOUT_XDP_CHAIN_SLOTS, 0);
        return fd >= 0 ? new XdpChainOwners(new SafeFileHandle(fd, ownsHandle: true)) : throw BpfException.For("cannot create the map of an XDP chain's owners", Marshal.GetLastPInvokeError());
    }

    public static XdpChainOwners Adopt(SafeFileHandle map) => new(map);

    /// <summary>Every held slot: its index, listener and process.</summary>
    public List<(uint Slot, string Listener, int Pid)> Held()
    {
        var held = new List<(uint, string, int)>();
        for (var slot = 0u; slot < FANOUT_XDP_CHAIN_SLOTS; slot++)
        {
            var owner = Read(slot);
            if (owner.pid != 0)
            {
                held.Add((slot, NameOf(owner), owner.pid));
            }
        }
        return held;
    }

    public unsafe void Set(uint slot, string listener, int pid)
    {
        var owner = new xdp_chain_owner { pid = pid };
        var bytes = Encoding.UTF8.GetBytes(listener);
        bytes.AsSpan(0, Math.Min(bytes.Length, NameBytes)).CopyTo(new Span<byte>(owner.listener, NameBytes));
        Write(slot, owner);
    }

    public void Clear(uint slot) => Write(slot, default);

    /// <summary>
    /// Whether process <paramref name="pid"/> still holds this chain. Every process with a listener in the chain keeps
    /// this map open, so a process that runs without a descriptor of it got the pid from the kernel after the holder
    /// was gone, and the slot is free. Where its descriptors cannot be read (a /proc that hides it, a process that
    /// may not be inspected), a process that runs counts as a holder: a live listener's slot is never given away.
    /// </summary>
    public bool HeldBy(int pid)
    {
        if (!Runs(pid))
        {
            return false;
        }
        var line = $"map_id:\t{_id.Value}";
        try
        {
            foreach (var fdinfo in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
            {
                try
                {
                    if (File.ReadLines(fdinfo).Contains(line))
                    {
                        return true;
                    }
                }
                catch (FileNotFoundException)
                {
                    // A descriptor closed while the list was read.
                }
            }
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>Whether <paramref name="pid"/> still runs: a process of another user answers EPERM, and runs.</summary>
    internal static bool Runs(int pid) => Interop.Libc.kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != Interop.Libc.ESRCH;

    public void Dispose() => _map.Dispose();

    private uint Id()
    {
        var error = BpfMap.ReadInfo(Fd, out var info);
        return error == 0 ? info.id : throw BpfException.For("cannot read the id of an XDP chain's owners map", error);
    }

    private unsafe xdp_chain_owner Read(uint slot)
    {
        var owner = default(xdp_chain_owner);
        if (bpf_map_lookup_elem(Fd, &slot, &owner) != 0)
        {
            throw BpfException.For($"cannot read slot {slot} of an XDP chain's owners", Marshal.GetLastPInvokeError());
        }
        return owner;
    }

    private unsafe void Write(uint slot, xdp_chain_owner owner)
    {
        if (bpf_map_update_elem(Fd, &slot, &owner, BPF_ANY) != 0)
        {
            throw BpfException.For($"cannot write slot {slot} of an XDP chain's owners", Marshal.GetLastPInvokeError());
        }
    }

    private static unsafe string NameOf(xdp_chain_owner owner)
    {
        var name = new ReadOnlySpan<byte>(owner.listener, NameBytes);
        var end = name.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? name : name[..end]);
    }

    /// <summary>One entry: the daemon's own layout, which no C code shares (listener names are at most 64 bytes).</summary>
    private unsafe struct xdp_chain_owner
    {
        public int pid;
        public fixed byte listener[NameBytes];
    }
}
