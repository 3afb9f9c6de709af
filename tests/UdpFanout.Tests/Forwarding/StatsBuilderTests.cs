using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Forwarding;
using UdpFanout.Model;

namespace UdpFanout.Tests.Forwarding;

public sealed class StatsBuilderTests
{
    private static readonly Downstream A = new("a", new IPEndPoint(IPAddress.Loopback, 6000));
    private static readonly Downstream B = new("b", new IPEndPoint(IPAddress.Loopback, 6001));

    [Fact]
    public void Clear_AfterAReading_TheNextReadingHasOnlyItsOwnCounts()
    {
        var stats = new StatsBuilder()
            .AddReceived(10, 1000).AddForwarded(8, 800).AddDropped(DropReason.Truncated, 2)
            .AddDownstream(A, 8, 800).AddIcmpErrors(A, IcmpError.PortUnreachable, 3).Add(ModeCounter.StaleSources(4));

        stats.Clear().AddReceived(1, 100).AddForwarded(1, 100).AddDownstream(B, 1, 100);

        Assert.Equal((1, 100, 1, 100), (stats.Received, stats.ReceivedBytes, stats.Forwarded, stats.ForwardedBytes));
        Assert.All(stats.Dropped, d => Assert.Equal(0, d));
        Assert.Equal([KeyValuePair.Create(B, (1L, 100L))], stats.Downstreams);
        Assert.Empty(stats.IcmpErrors);
        Assert.Empty(stats.ModeCounters);
        Assert.Equal(new DownstreamStats(B, 1, 100), stats.Build().Downstreams.Single());
    }

    [Fact]
    public void AddDownstream_TheSameDownstreamFromTwoParts_AddsUpInTheReading()
    {
        var counter = new DownstreamCounter();
        counter.Add(2, 200);
        counter.AddIcmpError(IcmpError.HostUnreachable);

        var stats = new StatsBuilder().AddDownstream(A, counter).AddDownstream(A, 3, 300);

        Assert.Equal((5L, 500L), stats.Downstreams[A]);
        Assert.Equal(1, stats.IcmpErrors[(A, IcmpError.HostUnreachable)]);
        Assert.Single(stats.IcmpErrors);
    }
}
