using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Forwarding;

namespace UdpFanout.Tests.Forwarding;

public sealed class DownstreamCountersTests
{
    private static readonly Downstream A = new("a", new IPEndPoint(IPAddress.Loopback, 6000));
    private static readonly Downstream B = new("b", new IPEndPoint(IPAddress.Loopback, 6001));

    [Fact]
    public void Activate_DownstreamOutOfTheSetAndBack_KeepsCountingOnOneCounter()
    {
        var counters = new DownstreamCounters();
        counters.Activate(new DownstreamSet([A, B]), RoundRobinOver).Counters[1].Add(3, 300);
        counters.Activate(new DownstreamSet([A]), RoundRobinOver);

        counters.Activate(new DownstreamSet([A, B]), RoundRobinOver).Counters[1].Add(1, 100);

        Assert.Equal(new DownstreamStats(B, 4, 400), Read(counters).Single(d => d.Downstream == B));
    }

    [Fact]
    public void Forget_DownstreamThatLeft_StopsReportingIt()
    {
        var counters = new DownstreamCounters();
        counters.Activate(new DownstreamSet([A, B]), RoundRobinOver).Counters[1].Add(3, 300);
        counters.Activate(new DownstreamSet([A]), RoundRobinOver);

        counters.Forget([B]);

        Assert.Equal([A], Read(counters).Select(d => d.Downstream));
    }

    [Fact]
    public void Forget_DownstreamBackInTheSet_KeepsItsCounter()
    {
        var counters = new DownstreamCounters();
        var active = counters.Activate(new DownstreamSet([A, B]), RoundRobinOver);

        counters.Forget([B]);
        active.Counters[1].Add(2, 200);

        Assert.Equal(new DownstreamStats(B, 2, 200), Read(counters).Single(d => d.Downstream == B));
    }

    private static IBalancingPolicy RoundRobinOver(IReadOnlyList<Downstream> members) =>
        new RoundRobinPolicy(new RoundRobin(), members.Select(d => d.Weight).ToArray());

    private static IReadOnlyList<DownstreamStats> Read(DownstreamCounters counters)
    {
        var stats = new StatsBuilder();
        counters.AddTo(stats);
        return stats.Build().Downstreams;
    }
}
