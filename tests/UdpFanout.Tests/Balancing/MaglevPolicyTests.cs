using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Balancing;

public sealed class MaglevPolicyTests
{
    [Fact]
    public void Pick_SourceIp_IgnoresThePort()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10), HashKey.SourceIp);
        var sources = Enumerable.Range(0, 1000).Select(p => SourceHash.Key(0x0AFA0102, (ushort)(1000 + p))).ToArray();
        var targets = new int[sources.Length];

        policy.Pick(sources, targets);

        Assert.Single(targets.Distinct());
    }

    [Fact]
    public void Pick_SourceIpPort_SpreadsOneHostsPorts()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10), HashKey.SourceIpPort);
        var sources = Enumerable.Range(0, 1000).Select(p => SourceHash.Key(0x0AFA0102, (ushort)(1000 + p))).ToArray();
        var targets = new int[sources.Length];

        policy.Pick(sources, targets);

        Assert.Equal(10, targets.Distinct().Count());
    }

    [Fact]
    public void Pick_SameSource_SameDownstreamEveryTime()
    {
        var policy = new MaglevPolicy(MaglevTableTests.Set(10), HashKey.SourceIpPort);
        ulong[] sources = [SourceHash.Key(0x0AFA0102, 5000), SourceHash.Key(0x0AFA0102, 5000)];
        var targets = new int[2];

        policy.Pick(sources, targets);

        Assert.Equal(targets[0], targets[1]);
        Assert.True(policy.UsesSource);
    }
}
