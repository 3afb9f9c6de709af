using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>The one place that turns a listener's <c>preserve_source</c> into the sender each of its forwarding threads gets.</summary>
internal static class DatagramSenders
{
    /// <param name="proxySource">Where a sender without the option binds its socket (<see cref="SendSocket.Open"/>).</param>
    public static IDatagramSender Open(ListenerConfig listener, IPAddress proxySource, ILogger logger)
    {
        var plain = new SocketSender(SendSocket.Open(proxySource, listener.SendBufferBytes, logger, listener.Name), listener.BatchSize);
        if (!listener.PreserveSource)
        {
            return plain;
        }
        IDatagramSender? rest = null;
        try
        {
            // A chain: IPv4 to IPv4 raw, IPv6 to IPv6 raw, and the other pairs plain from the proxy's address.
            rest = new Raw6Sender(OpenIpv6(listener, logger), plain, listener.BatchSize);
            return new RawSender(RawSocket.Open(listener.SendBufferBytes, logger, listener.Name), rest, listener.BatchSize);
        }
        catch
        {
            (rest ?? plain).Dispose();
            throw;
        }
    }

    /// <summary>The IPv6 raw socket; none on a host booted without IPv6, which has no IPv6 client or downstream either.</summary>
    private static RawSocket? OpenIpv6(ListenerConfig listener, ILogger logger)
    {
        if (!Socket.OSSupportsIPv6)
        {
            return null;
        }
        return RawSocket.Open(AddressFamily.InterNetworkV6, listener.SendBufferBytes, logger, listener.Name);
    }
}
