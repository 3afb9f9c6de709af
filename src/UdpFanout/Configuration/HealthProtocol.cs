namespace UdpFanout.Configuration;

internal enum HealthProtocol
{
    Icmp,
    UdpEcho,
}
