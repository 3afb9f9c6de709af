using System.Net;

namespace UdpFanout.Configuration;

internal sealed record MetricsConfig
{
    public bool Enabled { get; init; } = true;
    public IPEndPoint Bind { get; init; } = new(IPAddress.Loopback, 9090);
}
