using UdpFanout.Balancing;

namespace UdpFanout.Forwarding;

/// <summary>What one downstream has been sent by a listener, monotonic.</summary>
internal readonly record struct DownstreamStats(Downstream Downstream, long Packets, long Bytes);
