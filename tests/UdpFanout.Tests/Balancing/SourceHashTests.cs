using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Balancing;

public sealed class SourceHashTests
{
    /// <summary>Fixed values, so a change to the hash (which would move every source and break agreement with older proxies and the BPF side) fails here. The values were computed apart from this code, in Python.</summary>
    [Theory]
    [InlineData(0x0A000001u, (ushort)0, 14433u)]
    [InlineData(0x0A000001u, (ushort)53, 54831u)]
    [InlineData(0xC0A80164u, (ushort)40000, 500u)]
    public void Slot_KnownSources_KnownSlots(uint address, ushort port, uint expected)
    {
        Assert.Equal(expected, SourceHash.Slot(SourceHash.Key(address, port), HashKey.SourceIpPort, 65537));
    }

    [Fact]
    public void Slot_SourceIp_SameSlotForEveryPort()
    {
        var slots = Enumerable.Range(0, 100).Select(p => SourceHash.Slot(SourceHash.Key(0x0A000001, (ushort)p), HashKey.SourceIp, 65537)).Distinct();

        Assert.Single(slots);
    }

    [Fact]
    public void Slot_10000Sources_SpreadOverTheTable()
    {
        var buckets = new int[10];
        for (uint i = 0; i < 10_000; i++)
        {
            buckets[SourceHash.Slot(SourceHash.Key(0x0A000000 + i, 0), HashKey.SourceIp, 65537) % 10]++;
        }

        Assert.All(buckets, b => Assert.InRange(b, 900, 1100));
    }
}
