using System.Net;
using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>The one place that turns a listener's <c>preserve_source</c> into the sender each of its forwarding threads gets.</summary>
internal static class DatagramSenders
{
    /// <param name="proxySource">Where a sender without the option binds its socket (<see cref="SendSocket.Open"/>).</param>
    public static IDatagramSender Open(ListenerConfig listener, IPAddress proxySource, ILogger logger) =>
        listener.PreserveSource
            ? new RawSender(RawSocket.Open(listener.SendBufferBytes, logger, listener.Name), listener.BatchSize)
            : new SocketSender(SendSocket.Open(proxySource, listener.SendBufferBytes, logger, listener.Name), listener.BatchSize);
}
