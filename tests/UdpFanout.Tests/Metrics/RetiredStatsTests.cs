using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Metrics;
using UdpFanout.Model;

namespace UdpFanout.Tests.Metrics;

public sealed class RetiredStatsTests
{
    private static readonly ListenerConfig Listener = new() { Name = "syslog", Bind = new IPEndPoint(IPAddress.Loopback, 5514) };
    private static readonly Downstream Sink = new("sink", new IPEndPoint(IPAddress.Loopback, 6000));

    [Fact]
    public void AddTo_RestartedListener_CountersContinueFromTheRetiredInstance()
    {
        var retired = new RetiredStats();
        retired.Add(Listener, Stats(received: 10, forwarded: 8, truncated: 2, toSink: 8));

        var combined = retired.AddTo(new StatsBuilder(), Listener).Add(Stats(received: 5, forwarded: 5, truncated: 0, toSink: 5)).Build();

        Assert.Equal(15, combined.Received);
        Assert.Equal(13, combined.Forwarded);
        Assert.Equal(2, combined.Dropped[(int)DropReason.Truncated]);
        Assert.Equal(13, combined.Downstreams.Single().Packets);
    }

    [Fact]
    public void AddTo_RestartedListener_IcmpErrorsContinueFromTheRetiredInstance()
    {
        var retired = new RetiredStats();
        retired.Add(Listener, Stats(received: 4, forwarded: 4, truncated: 0, toSink: 4) with { IcmpErrors = [new(Sink, IcmpError.PortUnreachable, 4)] });

        var combined = retired.AddTo(new StatsBuilder(), Listener).Add(Stats(received: 2, forwarded: 2, truncated: 0, toSink: 2) with
        {
            IcmpErrors = [new(Sink, IcmpError.PortUnreachable, 1), new(Sink, IcmpError.HostUnreachable, 1)],
        }).Build();

        Assert.Equal(
            [(IcmpError.PortUnreachable, 5L), (IcmpError.HostUnreachable, 1L)],
            combined.IcmpErrors.Select(e => (e.Type, e.Count)).OrderBy(e => e.Type));
    }

    [Fact]
    public void Stopped_StoppedListener_KeepsExportingItsFinalCounters()
    {
        var retired = new RetiredStats();
        retired.Add(Listener, Stats(received: 3, forwarded: 3, truncated: 0, toSink: 3));

        var combined = retired.Stopped([]).Single();

        Assert.Equal("syslog", combined.Listener.Name);
        Assert.Equal(3, combined.Stats.Received);
    }

    [Fact]
    public void Remove_StoppedListenerAsSeen_NoLongerExported()
    {
        var retired = new RetiredStats();
        retired.Add(Listener, Stats(received: 3, forwarded: 3, truncated: 0, toSink: 3));
        var seen = retired.Stopped([]).Single().Stats;

        retired.Remove(Listener, seen);

        Assert.Empty(retired.Stopped([]));
    }

    [Fact]
    public void Remove_ListenerRetiredAgainSinceTheScrape_KeepsTheNewCounts()
    {
        var retired = new RetiredStats();
        retired.Add(Listener, Stats(received: 3, forwarded: 3, truncated: 0, toSink: 3));
        var seen = retired.Stopped([]).Single().Stats;
        retired.Add(Listener, Stats(received: 2, forwarded: 2, truncated: 0, toSink: 2));

        retired.Remove(Listener, seen);

        Assert.Equal(5, retired.Stopped([]).Single().Stats.Received);
    }

    [Fact]
    public void ForgetDownstreams_RetiredDownstream_DropsItsCountsAndKeepsTheListenerTotals()
    {
        var retired = new RetiredStats();
        retired.Add(Listener, Stats(received: 10, forwarded: 8, truncated: 2, toSink: 8));

        retired.ForgetDownstreams(Listener, [Sink]);

        var combined = retired.Stopped([]).Single().Stats;
        Assert.Empty(combined.Downstreams);
        Assert.Equal(8, combined.Forwarded);
    }

    private static ListenerStats Stats(long received, long forwarded, long truncated, long toSink)
    {
        var dropped = new long[DropReasonLabels.Count];
        dropped[(int)DropReason.Truncated] = truncated;
        return new ListenerStats
        {
            Received = received,
            Forwarded = forwarded,
            Dropped = dropped,
            Downstreams = [new DownstreamStats(Sink, toSink, toSink * 100)],
        };
    }
}
