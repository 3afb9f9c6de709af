using UdpFanout.Health;

namespace UdpFanout.Tests.Health;

public sealed class DownstreamHealthTests
{
    [Fact]
    public void Record_ThreeConsecutiveFailures_TakeItDownOnTheThird()
    {
        var health = new DownstreamHealth(unhealthyThreshold: 3, healthyThreshold: 2);

        Assert.Equal([false, false, true], new[] { health.Record(false), health.Record(false), health.Record(false) });
        Assert.False(health.Up);
    }

    [Fact]
    public void Record_ASuccessBetweenFailures_StartsTheCountAgain()
    {
        var health = new DownstreamHealth(3, 2);

        health.Record(false);
        health.Record(false);
        health.Record(true);
        health.Record(false);
        health.Record(false);

        Assert.True(health.Up);
    }

    [Fact]
    public void Record_HealthyThresholdSuccesses_BringItBack()
    {
        var health = new DownstreamHealth(1, 2);
        health.Record(false);

        Assert.False(health.Record(true));
        Assert.True(health.Record(true));
        Assert.True(health.Up);
    }
}
