using System.Net;
using UdpFanout.Balancing;

namespace UdpFanout.Tests.Balancing;

public sealed class DownstreamNamesTests
{
    [Theory]
    [InlineData(0, "none")]
    [InlineData(1, "d0 (127.0.0.1:0)")]
    [InlineData(5, "d0 (127.0.0.1:0), d1 (127.0.0.1:1), d2 (127.0.0.1:2), d3 (127.0.0.1:3), d4 (127.0.0.1:4)")]
    [InlineData(10_000, "d0 (127.0.0.1:0), d1 (127.0.0.1:1), d2 (127.0.0.1:2), d3 (127.0.0.1:3), d4 (127.0.0.1:4) and 9995 more")]
    public void Summary_NamesAtMostFiveAndCountsTheRest(int count, string expected)
    {
        var downstreams = Enumerable.Range(0, count).Select(i => new Downstream($"d{i}", new IPEndPoint(IPAddress.Loopback, i))).ToArray();

        Assert.Equal(expected, DownstreamNames.Summary(downstreams));
    }
}
