using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

public sealed class HostAddressTests
{
    [Theory]
    [InlineData("10.0.0.5", 24, "10.0.0.255", "10.0.0.0/24")]
    [InlineData("172.16.5.9", 12, "172.31.255.255", "172.16.0.0/12")]
    [InlineData("192.168.1.1", 30, "192.168.1.3", "192.168.1.0/30")]
    [InlineData("10.1.2.3", 0, "255.255.255.255", "0.0.0.0/0")]
    public void Broadcast_IsTheSubnetsLastAddress(string address, int prefix, string broadcast, string subnet)
    {
        var host = new HostAddress("eth0", IPAddress.Parse(address), prefix);

        Assert.Equal((IPAddress.Parse(broadcast), subnet), (host.Broadcast, host.Subnet));
    }

    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    public void Broadcast_PointToPointAndHostRoutes_HaveNone(int prefix) =>
        Assert.Null(new HostAddress("eth0", IPAddress.Parse("10.0.0.5"), prefix).Broadcast);
}
