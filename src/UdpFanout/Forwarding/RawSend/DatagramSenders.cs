using System.Net;
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
        try
        {
            // The plain sender takes what cannot keep the client's address (RawSender says which).
            return new RawSender(RawSocket.Open(listener.SendBufferBytes, logger, listener.Name), plain, listener.BatchSize);
        }
        catch
        {
            plain.Dispose();
            throw;
        }
    }
}
