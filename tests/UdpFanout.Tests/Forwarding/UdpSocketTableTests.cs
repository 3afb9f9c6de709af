using System.Net;
using System.Net.Sockets;
using UdpFanout.Forwarding;

namespace UdpFanout.Tests.Forwarding;

public sealed class UdpSocketTableTests
{
    [Fact]
    public void Parse_Ipv4AndIpv6Lines_GiveTheEndpointsTheyReceiveOn()
    {
        string[] udp =
        [
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
            "14224: 00000000:8C1B 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 50068 2 00000000c909064f 0",
            "  101: 0100007F:15BA 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 777 2 00000000c909064f 0",
            "  102: 0500000A:0035 0900000A:1F90 01 00000000:00000000 00:00000000 00000000     0        0 778 2 00000000c909064f 0",
        ];
        string[] udp6 =
        [
            "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
            "  200: 00000000000000000000000000000000:15BA 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 900 2 0000000000000000 0",
            "  201: 0000000000000000FFFF00000100007F:15BB 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 901 2 0000000000000000 0",
            "  202: 000080FE00000000FF005452120034FE:15BC 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 902 2 0000000000000000 0",
        ];

        var entries = UdpSocketTable.Parse(udp).Concat(UdpSocketTable.Parse(udp6));

        Assert.Equal(
            [
                new UdpSocketEntry(IPEndPoint.Parse("0.0.0.0:35867"), 50068),
                new UdpSocketEntry(IPEndPoint.Parse("127.0.0.1:5562"), 777),
                new UdpSocketEntry(IPEndPoint.Parse("10.0.0.5:53"), 778),
                new UdpSocketEntry(IPEndPoint.Parse("[::]:5562"), 900),
                new UdpSocketEntry(IPEndPoint.Parse("127.0.0.1:5563"), 901),
                new UdpSocketEntry(IPEndPoint.Parse("[fe80::5254:ff:fe34:12]:5564"), 902),
            ],
            entries);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void Read_ASocketOfThisProcess_IsListedWithItsPort(string address)
    {
        var ip = IPAddress.Parse(address);
        using var socket = new Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(ip, 0));

        Assert.Contains(UdpSocketTable.Read(), e => e.Local.Equals(socket.LocalEndPoint));
    }
}
