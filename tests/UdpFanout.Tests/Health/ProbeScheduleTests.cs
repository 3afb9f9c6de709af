using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Health;
using static Interop.Libc;

namespace UdpFanout.Tests.Health;

public sealed class ProbeScheduleTests
{
    [Fact]
    public void TakeDue_OnlyWhatIsDue_InDueOrderEachScheduledAnIntervalLater()
    {
        var schedule = new ProbeSchedule(interval: 100);
        var (a, b, c) = (Target(1), Target(2), Target(3));
        schedule.Add(c, 30);
        schedule.Add(a, 10);
        schedule.Add(b, 20);
        var taken = new List<ProbedDownstream>();

        schedule.TakeDue(now: 25, taken);

        Assert.Equal([a, b], taken);
        Assert.Equal(30, schedule.NextDue);
        taken.Clear();
        schedule.TakeDue(now: 110, taken);
        Assert.Equal([c, a], taken);
        Assert.Equal(120, schedule.NextDue);
    }

    [Fact]
    public void TakeDue_AfterAStall_EachKeepsItsPlaceInTheInterval()
    {
        var schedule = new ProbeSchedule(interval: 100);
        var (a, b) = (Target(1), Target(2));
        schedule.Add(a, 10);
        schedule.Add(b, 60);
        var taken = new List<ProbedDownstream>();

        schedule.TakeDue(now: 1_005, taken);

        Assert.Equal([a, b], taken);
        Assert.Equal(1_010, schedule.NextDue);
        taken.Clear();
        schedule.TakeDue(now: 1_010, taken);
        Assert.Equal([a], taken);
        Assert.Equal(1_060, schedule.NextDue);
    }

    [Fact]
    public void TakeDue_ALeftDownstream_IsDroppedForGood()
    {
        var schedule = new ProbeSchedule(interval: 100);
        var gone = Target(1);
        schedule.Add(gone, 10);
        gone.Tracked = false;
        var taken = new List<ProbedDownstream>();

        schedule.TakeDue(now: 500, taken);

        Assert.Empty(taken);
        Assert.Equal(0, schedule.Count);
    }

    private static ProbedDownstream Target(int port)
    {
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        return new(new Downstream($"d{port}", endpoint), sockaddr_inet.From(endpoint), new DownstreamHealth(1, 1));
    }
}
