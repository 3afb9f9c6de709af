using System.Net;

namespace UdpFanout.Health;

/// <summary>One way of asking a downstream whether it is alive: ICMP echo or a UDP echo.</summary>
internal interface IHealthProbe
{
    /// <summary>True when <paramref name="target"/> answered correctly within <paramref name="timeout"/>.</summary>
    Task<bool> ProbeAsync(IPEndPoint target, TimeSpan timeout, CancellationToken cancellationToken);
}
