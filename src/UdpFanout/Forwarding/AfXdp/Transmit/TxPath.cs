namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>How a queue forwarder sends to one downstream.</summary>
internal enum TxPath : byte
{
    /// <summary>Through the kernel with sendmmsg: the route leaves by another interface, or is not a plain unicast one.</summary>
    Stack,
    /// <summary>Rewritten in UMEM and put on the TX ring: the next hop is on the listener's segment and its MAC is known.</summary>
    Ring,
    /// <summary>
    /// The next hop is on the listener's segment, but the kernel's neighbour entry for it has no usable MAC (none yet,
    /// incomplete, failed): sent through the kernel, whose neighbour code then resolves it, and counted as a miss.
    /// </summary>
    NeighbourMiss,
}
