using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

public sealed class BindsTests
{
    [Theory]
    [InlineData("10.0.0.1:5514", "10.0.0.1:5514", true)]
    [InlineData("0.0.0.0:5514", "10.0.0.1:5514", true)]
    [InlineData("10.0.0.1:5514", "0.0.0.0:5514", true)]
    [InlineData("0.0.0.0:5514", "0.0.0.0:5514", true)]
    [InlineData("10.0.0.1:5514", "10.0.0.2:5514", false)]
    [InlineData("0.0.0.0:5514", "0.0.0.0:5515", false)]
    [InlineData("[::]:5514", "10.0.0.1:5514", true)]
    [InlineData("0.0.0.0:5514", "[::]:5514", true)]
    [InlineData("[::]:5514", "[fd00::1]:5514", true)]
    [InlineData("[fd00::1]:5514", "[fd00::1]:5514", true)]
    [InlineData("0.0.0.0:5514", "[fd00::1]:5514", false)]
    [InlineData("[fd00::1]:5514", "[fd00::2]:5514", false)]
    [InlineData("[fd00::1]:5514", "10.0.0.1:5514", false)]
    public void Overlap_SamePortAndTheSameOrAnyAddress(string a, string b, bool overlap) =>
        Assert.Equal(overlap, Binds.Overlap(IPEndPoint.Parse(a), IPEndPoint.Parse(b)));
}
