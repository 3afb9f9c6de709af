using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Balancing;

public sealed class MaglevPolicyTests
{
    [Fact]
    public void Pick_SourceIp_IgnoresThePort()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10));
        var hashKey = HashKey.SourceIp;
        var sources = Enumerable.Range(0, 1000).Select(p => SourceHash.Key(0x0AFA0102, (ushort)(1000 + p), hashKey)).ToArray();
        var targets = new int[sources.Length];

        policy.Pick(sources, targets);

        Assert.Single(targets.Distinct());
    }

    [Fact]
    public void Pick_SourceIpPort_SpreadsOneHostsPorts()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10));
        var hashKey = HashKey.SourceIpPort;
        var sources = Enumerable.Range(0, 1000).Select(p => SourceHash.Key(0x0AFA0102, (ushort)(1000 + p), hashKey)).ToArray();
        var targets = new int[sources.Length];

        policy.Pick(sources, targets);

        Assert.Equal(10, targets.Distinct().Count());
    }

    [Fact]
    public void Pick_SameSource_SameDownstreamEveryTime()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10));
        var hashKey = HashKey.SourceIpPort;
        ulong[] sources = [SourceHash.Key(0x0AFA0102, 5000, hashKey), SourceHash.Key(0x0AFA0102, 5000, hashKey)];
        var targets = new int[2];

        policy.Pick(sources, targets);

        Assert.Equal(targets[0], targets[1]);
        Assert.True(policy.UsesSource);
    }

    [Fact]
    public void Pick_100000SourcesOverTenEqualDownstreams_BusiestAtMost110PercentOfTheLeast()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10));
        var hashKey = HashKey.SourceIpPort;
        // 50 addresses with consecutive ports, as a fleet of exporters behind a few NAT addresses would look.
        var sources = Enumerable.Range(0, 100_000).Select(i => SourceHash.Key(0x0AFA0164u + (uint)(i % 50), (ushort)(20000 + i / 50), hashKey)).ToArray();
        var targets = new int[sources.Length];

        policy.Pick(sources, targets);

        var counts = targets.CountBy(t => t).Select(p => p.Value).ToArray();
        Assert.Equal(10, counts.Length);
        Assert.True(counts.Max() <= 1.10 * counts.Min(), string.Join(", ", counts));
    }
}
