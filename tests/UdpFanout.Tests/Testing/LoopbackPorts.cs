using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

internal static class LoopbackPorts
{
    /// <summary>A UDP port on 127.0.0.1 that was free a moment ago.</summary>
    public static IPEndPoint FreeUdp()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)probe.LocalEndPoint!;
    }

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (for the metrics endpoint).</summary>
    public static int FreeTcp()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>A loopback address with no socket behind it: datagrams sent there draw ICMP port unreachable.</summary>
    public static IPEndPoint Closed() => FreeUdp();
}
