namespace UdpFanout.Forwarding;

/// <summary>
/// What an ICMP error about a forwarded datagram said, as the <c>type</c> label of
/// <c>udp_fanout_downstream_icmp_errors_total</c>. The datagram had left, so it counts as forwarded too.
/// </summary>
internal enum IcmpError
{
    /// <summary>The downstream host is up but nothing listens on the port.</summary>
    PortUnreachable,
    HostUnreachable,
    NetUnreachable,
    ProtocolUnreachable,
    /// <summary>The datagram was larger than a link's MTU on the way and had DF set.</summary>
    FragmentationNeeded,
    /// <summary>A firewall on the way refused it (ICMP codes 9, 10 and 13).</summary>
    AdministrativelyProhibited,
    /// <summary>The TTL ran out on the way: a routing loop, or a path longer than the TTL.</summary>
    TimeExceeded,
    Other,
}
