using static Interop.Netlink;

namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>The kernel's neighbour entry for one address on the listener's interface: its NUD state and packed MAC (0 when none).</summary>
internal readonly record struct NeighbourEntry(ushort State, ulong Mac)
{
    /// <summary>
    /// Usable without the kernel: its MAC is one the kernel itself would send to now. That includes a stale entry
    /// and one being confirmed (delay, probe), as the kernel sends to those too; incomplete and failed ones have none.
    /// </summary>
    public bool Reachable => Mac != 0 && (State & (NUD_REACHABLE | NUD_PERMANENT | NUD_STALE | NUD_DELAY | NUD_PROBE)) != 0;

    /// <summary>
    /// Not confirmed for a while. The kernel confirms an entry only when it sends through it itself, which frames
    /// from the TX ring never make it do, so the follower asks it to (NTF_USE): delay, then a unicast probe.
    /// </summary>
    public bool Stale => (State & NUD_STALE) != 0;
}
