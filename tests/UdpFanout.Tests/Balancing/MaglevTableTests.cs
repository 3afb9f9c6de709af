using System.Net;
using System.Security.Cryptography;
using UdpFanout.Balancing;

namespace UdpFanout.Tests.Balancing;

public sealed class MaglevTableTests
{
    [Fact]
    public void Build_SameSetInAnyOrder_GivesTheSameTable()
    {
        var set = Set(10);
        var reversed = set.AsEnumerable().Reverse().ToArray();
        var shuffled = set.OrderBy(d => SourceHash.Mix((ulong)d.Name.GetHashCode())).ToArray();

        var owners = Owners(set, MaglevTable.Build(set));

        Assert.Equal(owners, Owners(reversed, MaglevTable.Build(reversed)));
        Assert.Equal(owners, Owners(shuffled, MaglevTable.Build(shuffled)));
    }

    /// <summary>
    /// The digest was computed once and written down: any process on any host at any time must build this very
    /// table from this set, or proxies behind one ECMP group would send a source to different downstreams.
    /// </summary>
    [Fact]
    public void Build_FixedSet_GivesTheTableEveryProxyBuilds()
    {
        var set = Set(10);

        var owners = Owners(set, MaglevTable.Build(set));

        var digest = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join(",", owners))));
        Assert.Equal(KnownDigest, digest);
    }

    [Fact]
    public void Build_EqualWeights_EverySlotTakenAndSharesWithinOnePercent()
    {
        var set = Set(10);

        var table = MaglevTable.Build(set);

        Assert.DoesNotContain(-1, table);
        var shares = Counts(table, set.Length).Select(c => c / (double)table.Length).ToArray();
        Assert.All(shares, s => Assert.InRange(s, 0.099, 0.101));
    }

    [Fact]
    public void Build_Weights123_SharesFollowTheWeights()
    {
        Downstream[] set = [.. Set(3).Select((d, i) => d with { Weight = i + 1 })];

        var counts = Counts(MaglevTable.Build(set), 3);

        for (var i = 0; i < 3; i++)
        {
            Assert.InRange(counts[i] / (double)MaglevTable.DefaultSize, (i + 1) / 6.0 - 0.01, (i + 1) / 6.0 + 0.01);
        }
    }

    [Fact]
    public void Build_OneOfTenRemoved_ItsSlotsSpreadOverTheRestAndFewOthersMove()
    {
        var set = Set(10);
        var without = set.Where(d => d.Name != "s3").ToArray();

        var before = Owners(set, MaglevTable.Build(set));
        var after = Owners(without, MaglevTable.Build(without));

        var moved = Enumerable.Range(0, before.Length).Where(s => before[s] != after[s]).ToArray();
        var fromOthers = moved.Count(s => before[s] != "s3");
        Assert.All(Enumerable.Range(0, before.Length).Where(s => before[s] == "s3"), s => Assert.NotEqual("s3", after[s]));
        // Maglev is near-minimal, not minimal: a few slots of the others change hands as the walks re-interleave.
        Assert.True(fromOthers < before.Length / 100, $"{fromOthers} slots of other downstreams moved");
        var reassigned = moved.Where(s => before[s] == "s3").GroupBy(s => after[s]).Select(g => g.Count()).ToArray();
        Assert.Equal(9, reassigned.Length);
        Assert.True(reassigned.Max() < 2.0 * reassigned.Min(), $"the removed one's slots went unevenly: {string.Join(", ", reassigned)}");
    }

    [Fact]
    public void Build_OneOfTenAddedBack_AtMostTwelvePercentMove()
    {
        var set = Set(10);
        var without = set.Where(d => d.Name != "s3").ToArray();

        var before = Owners(without, MaglevTable.Build(without));
        var after = Owners(set, MaglevTable.Build(set));

        var moved = Enumerable.Range(0, before.Length).Count(s => before[s] != after[s]);
        Assert.True(moved <= 0.12 * before.Length, $"{moved} of {before.Length} slots moved");
    }

    internal static Downstream[] Set(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new Downstream($"s{i}", new IPEndPoint(IPAddress.Parse($"10.250.{i}.2"), 6000)))];

    private static string[] Owners(IReadOnlyList<Downstream> set, int[] table) => [.. table.Select(i => set[i].Name)];

    private static int[] Counts(int[] table, int members)
    {
        var counts = new int[members];
        foreach (var owner in table)
        {
            counts[owner]++;
        }
        return counts;
    }

    private const string KnownDigest = "3F6959911051C33F0B580193BFFF7395AEE01C151EAFB49F7D27A1D8DF8A65E7";
}
