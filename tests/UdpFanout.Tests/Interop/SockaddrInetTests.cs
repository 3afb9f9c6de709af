using System.Net;
using static Interop.Libc;

namespace UdpFanout.Tests.Interop;

public sealed class SockaddrInetTests
{
    [Theory]
    [InlineData("10.190.1.2:5514", 16u)]
    [InlineData("[fd90:1::2]:5514", 28u)]
    public void From_EitherFamily_RoundTripsWithTheFamilysLength(string text, uint length)
    {
        var endpoint = IPEndPoint.Parse(text);

        var address = sockaddr_inet.From(endpoint);

        Assert.Equal((endpoint, length), (address.ToEndPoint(), address.Length));
        Assert.Equal(endpoint.Port, System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(address.port));
    }

    [Theory]
    [InlineData("[fd90:1::2]:5514", "[fd90:1::2]:5514", true)]
    [InlineData("[fd90:1::2]:5514", "[fd90:1::3]:5514", false)]
    [InlineData("[fd90:1::2]:5514", "[fd90:1::2]:5515", false)]
    [InlineData("10.190.1.2:5514", "10.190.1.2:5514", true)]
    [InlineData("10.190.1.2:5514", "[::ffff:10.190.1.2]:5514", false)]
    public void SameEndPoint_ComparesFamilyAddressAndPort(string a, string b, bool same) =>
        Assert.Equal(same, sockaddr_inet.From(IPEndPoint.Parse(a)).SameEndPoint(sockaddr_inet.From(IPEndPoint.Parse(b))));
}
