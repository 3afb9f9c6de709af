using System.Text;

namespace UdpFanout.Balancing;

/// <summary>
/// The lookup table of Maglev consistent hashing (Eisenbud et al., NSDI 2016): each downstream walks the table in
/// its own permutation (an offset and a skip from a hash of its name and address) and the downstreams take turns
/// claiming the next free slot of their walk, <c>weight</c> slots per turn. The table depends only on the set's
/// names, addresses and weights, never on their order or on this process, so proxies that share a set agree on
/// every source. When a downstream leaves, its slots go to the others and few other slots change; when it
/// returns it takes about its share back.
/// </summary>
internal static class MaglevTable
{
    /// <summary>A prime, so every skip from 1 to size-1 walks all slots; 65,537 keeps each downstream's share within ~1 % for 256 downstreams.</summary>
    public const uint DefaultSize = Interop.Fanout.FANOUT_MAGLEV_TABLE_SIZE;

    private const ulong OffsetSeed = 0x9E3779B97F4A7C15UL;
    private const ulong SkipSeed = 0xC2B2AE3D27D4EB4FUL;

    /// <summary>For each slot, the index in <paramref name="members"/> of the downstream that owns it.</summary>
    /// <param name="members">At least one, each with a weight of at least 1.</param>
    public static int[] Build(IReadOnlyList<Downstream> members, uint size = DefaultSize)
    {
        // The fill below ends only once someone takes a turn; the rotation never publishes drained members alone.
        if (!members.Any(d => d.Weight > 0))
        {
            throw new ArgumentException("a Maglev table needs a downstream with a weight above 0", nameof(members));
        }
        // Turns in a fixed order of the downstreams themselves, so listing order never matters.
        var order = Enumerable.Range(0, members.Count)
            .OrderBy(i => members[i].Name, StringComparer.Ordinal)
            .ThenBy(i => members[i].Endpoint.ToString(), StringComparer.Ordinal)
            .ToArray();
        var offset = new ulong[members.Count];
        var skip = new ulong[members.Count];
        var next = new ulong[members.Count];
        foreach (var i in order)
        {
            var identity = Identity(members[i]);
            offset[i] = SourceHash.Mix(identity ^ OffsetSeed) % size;
            skip[i] = SourceHash.Mix(identity ^ SkipSeed) % (size - 1) + 1;
        }
        var table = new int[size];
        Array.Fill(table, -1);
        var filled = 0u;
        while (true)
        {
            foreach (var i in order)
            {
                for (var turn = 0; turn < members[i].Weight; turn++)
                {
                    ulong slot;
                    do
                    {
                        slot = (offset[i] + next[i]++ * skip[i]) % size;
                    }
                    while (table[slot] >= 0);
                    table[slot] = i;
                    if (++filled == size)
                    {
                        return table;
                    }
                }
            }
        }
    }

    /// <summary>FNV-1a over "name address:port": stable across processes and runtimes, unlike string.GetHashCode.</summary>
    private static ulong Identity(Downstream downstream)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes($"{downstream.Name} {downstream.Endpoint}"))
        {
            hash = (hash ^ b) * 0x100000001b3UL;
        }
        return hash;
    }
}
