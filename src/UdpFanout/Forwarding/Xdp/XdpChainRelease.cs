using UdpFanout.Bpf;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// <c>udp-fanout release</c>: takes out of every pinned XDP chain the programs of listeners whose process is gone, and
/// removes the chains that no listener holds any more or whose interface is gone. A pinned chain keeps its programs
/// when their process dies (that is what lets the others go on), so a killed listener's program would stay in its
/// slot and take its listener's frames until the same listener starts again: the unit runs this after every stop
/// (ExecStopPost=), a crash included, and a listener that joins a chain does the same for the slots it finds.
/// </summary>
internal static class XdpChainRelease
{
    /// <summary>Returns what it did, one line each.</summary>
    public static List<string> Run()
    {
        var done = new List<string>();
        if (XdpPinRoot.Existing() is not { } chains)
        {
            return [$"nothing is pinned in {XdpPinRoot.Chains}"];
        }
        using var pinLock = XdpPinLock.Take(chains);
        foreach (var directory in Directory.GetDirectories(chains))
        {
            if (XdpChainPins.Open(directory) is not { } pins)
            {
                XdpChainPins.Remove(directory);
                done.Add($"{directory}: an incomplete chain, removed");
                continue;
            }
            using (pins)
            using (pins.Link)
            {
                foreach (var (slot, listener, pid) in pins.Owners.Held().Where(h => !pins.Owners.HeldBy(h.Pid)))
                {
                    InterfaceXdpChain.Release((int)pins.Chain.DangerousGetHandle(), pins.Owners, slot);
                    done.Add($"{directory}: slot {slot} of listener '{listener}' emptied (its process {pid} is gone)");
                }
                // For an XDP link, the union's first word is xdp.ifindex, 0 once its interface is gone.
                var gone = pins.Link.Info() is { type: BPF_LINK_TYPE_XDP, tcx_ifindex: 0 };
                if (gone || pins.Owners.Held().Count == 0)
                {
                    XdpChainPins.Remove(directory);
                    done.Add($"{directory}: {(gone ? "its interface is gone" : "no listener holds it")}, removed");
                }
            }
        }
        return done;
    }
}
