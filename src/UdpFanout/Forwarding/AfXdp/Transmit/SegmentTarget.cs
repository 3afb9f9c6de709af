namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>One downstream as the queue forwarders see it: its path and, for <see cref="TxPath.Ring"/>, its next hop's MAC.</summary>
internal readonly record struct SegmentTarget(TxPath Path, ulong Mac);
