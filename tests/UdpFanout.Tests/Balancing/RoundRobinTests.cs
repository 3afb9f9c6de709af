using UdpFanout.Balancing;

namespace UdpFanout.Tests.Balancing;

public sealed class RoundRobinTests
{
    [Fact]
    public void Reserve_ConcurrentBatches_CoverTheSequenceWithoutGapsOrOverlap()
    {
        var roundRobin = new RoundRobin();
        var starts = new System.Collections.Concurrent.ConcurrentBag<long>();
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 1000; i++)
            {
                starts.Add(roundRobin.Reserve(7));
            }
        });
        var sorted = starts.Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 4000).Select(i => i * 7L), sorted);
    }

    [Fact]
    public void IndexOf_ConsecutivePositions_SpreadEvenly()
    {
        var counts = new int[3];
        for (long p = 0; p < 100; p++)
        {
            counts[RoundRobin.IndexOf(p, 3)]++;
        }
        Assert.Equal([34, 33, 33], counts);
    }
}
