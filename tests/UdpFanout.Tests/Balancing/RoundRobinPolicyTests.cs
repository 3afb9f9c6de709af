using UdpFanout.Balancing;

namespace UdpFanout.Tests.Balancing;

public sealed class RoundRobinPolicyTests
{
    [Fact]
    public void Pick_EqualWeights_CountsDifferByAtMostOneAndOrderIsPlain()
    {
        var policy = new RoundRobinPolicy(new RoundRobin(), [2, 2, 2]);

        var targets = PickMany(policy, 100, batch: 7);

        Assert.Equal([0, 1, 2, 0, 1, 2], targets.Take(6));
        var counts = Counts(targets, 3);
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(", ", counts));
    }

    [Fact]
    public void Pick_Weights123_SharesWithinOnePercentOver100000()
    {
        var policy = new RoundRobinPolicy(new RoundRobin(), [1, 2, 3]);

        var counts = Counts(PickMany(policy, 100_000, batch: 64), 3);

        for (var i = 0; i < 3; i++)
        {
            Assert.InRange(counts[i] / 100_000.0, (i + 1) / 6.0 - 0.01, (i + 1) / 6.0 + 0.01);
        }
    }

    [Fact]
    public void Pick_Weights511_InterleavesSmoothly()
    {
        var policy = new RoundRobinPolicy(new RoundRobin(), [5, 1, 1]);

        Assert.Equal([0, 0, 1, 0, 2, 0, 0], PickMany(policy, 7, batch: 3));
    }

    [Fact]
    public void Pick_NewSetOnTheSameSequence_ContinuesWhereTheOldLeftOff()
    {
        var sequence = new RoundRobin();
        PickMany(new RoundRobinPolicy(sequence, [1, 1, 1]), 4, batch: 4);

        Assert.Equal([1, 2, 0], PickMany(new RoundRobinPolicy(sequence, [1, 1, 1]), 3, batch: 3));
    }

    private static int[] PickMany(IBalancingPolicy policy, int count, int batch)
    {
        var targets = new int[count];
        for (var at = 0; at < count; at += batch)
        {
            var n = Math.Min(batch, count - at);
            policy.Pick(new ulong[n], targets.AsSpan(at, n));
        }
        return targets;
    }

    private static int[] Counts(int[] targets, int members)
    {
        var counts = new int[members];
        foreach (var t in targets)
        {
            counts[t]++;
        }
        return counts;
    }
}
