using System.Net;
using System.Net.NetworkInformation;

namespace UdpFanout.Health;

/// <summary>ICMP echo to the downstream's address (a raw socket: CAP_NET_RAW).</summary>
internal sealed class IcmpEchoProbe : IHealthProbe
{
    public async Task<bool> ProbeAsync(IPEndPoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var ping = new Ping();
        try
        {
            var reply = await ping.SendPingAsync(target.Address, timeout, cancellationToken: cancellationToken);
            return reply.Status == IPStatus.Success;
        }
        catch (PingException)
        {
            return false;
        }
    }
}
