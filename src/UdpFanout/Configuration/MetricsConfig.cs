using System.Net;

namespace UdpFanout.Configuration;

internal sealed record MetricsConfig
{
    /// <summary>
    /// Not 9090, which is Prometheus's own: a Prometheus on the same host (the usual setup for a host daemon) must
    /// not keep the daemon from exporting, nor the other way round.
    /// </summary>
    public const int DefaultPort = 9718;

    public bool Enabled { get; init; } = true;
    public IPEndPoint Bind { get; init; } = new(IPAddress.Loopback, DefaultPort);
}
