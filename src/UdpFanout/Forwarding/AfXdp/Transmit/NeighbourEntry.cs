namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>The kernel's neighbour entry for one address on the listener's interface: its NUD state and packed MAC (0 when none).</summary>
internal readonly record struct NeighbourEntry(ushort State, ulong Mac)
{
    /// <summary>
    /// Usable without the kernel: confirmed recently, or set by hand. A stale entry is not: only the kernel's own
    /// traffic to it makes the kernel confirm it again, so what goes to it goes through the kernel until it does.
    /// </summary>
    public bool Reachable => Mac != 0 && (State & (Interop.Netlink.NUD_REACHABLE | Interop.Netlink.NUD_PERMANENT)) != 0;
}
