namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>What <see cref="XskTransmitter.Offer"/> did with a frame, and so who owns it now.</summary>
internal enum TxVerdict : byte
{
    /// <summary>Not taken: its payload goes out with sendmmsg, and the frame back to the fill ring.</summary>
    Stack,
    /// <summary>On the TX ring: the frame is the kernel's until it comes back in the completion ring.</summary>
    Ring,
    /// <summary>Dropped and counted (a full TX ring, a TTL that would expire): the frame goes back to the fill ring.</summary>
    Dropped,
}
