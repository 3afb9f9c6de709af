using UdpFanout.Metrics;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Metrics;

public sealed class SeriesRetirementTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(5);
    private readonly ManualClock _clock = new();

    [Fact]
    public void Expired_GoneThroughTheGracePeriod_FalseUntilItEndsThenTrue()
    {
        var retirement = new SeriesRetirement(_clock, Grace);

        Assert.False(Scrape(retirement, ["syslog", "userspace", "b"]));
        _clock.Advance(Grace - TimeSpan.FromTicks(1));
        Assert.False(Scrape(retirement, ["syslog", "userspace", "b"]));
        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.True(Scrape(retirement, ["syslog", "userspace", "b"]));
    }

    [Fact]
    public void Expired_BackInTheConfigForAScrape_GracePeriodStartsAgain()
    {
        var retirement = new SeriesRetirement(_clock, Grace);
        Assert.False(Scrape(retirement, ["syslog", "userspace", "b"]));
        _clock.Advance(Grace);

        retirement.EndScrape();
        Assert.False(Scrape(retirement, ["syslog", "userspace", "b"]));
    }

    [Fact]
    public void Expired_AfterExpiring_ForgetsTheSeries()
    {
        var retirement = new SeriesRetirement(_clock, Grace);
        Scrape(retirement, ["syslog", "userspace", "b"]);
        _clock.Advance(Grace);
        Assert.True(Scrape(retirement, ["syslog", "userspace", "b"]));

        // Should the series be reported again (the counters could not be dropped), it gets a full grace period.
        Assert.False(Scrape(retirement, ["syslog", "userspace", "b"]));
    }

    private static bool Scrape(SeriesRetirement retirement, string[] labels)
    {
        var expired = retirement.Expired(labels);
        retirement.EndScrape();
        return expired;
    }
}
