using UdpFanout.Balancing;

namespace UdpFanout.Forwarding;

/// <summary>ICMP errors of one <see cref="IcmpError"/> type that came back for datagrams sent to a downstream, monotonic.</summary>
internal readonly record struct DownstreamIcmpErrors(Downstream Downstream, IcmpError Type, long Count);
