namespace UdpFanout.Balancing;

/// <summary>
/// Round robin over the listener-wide sequence. With equal weights position <c>p</c> goes to <c>p mod n</c>, so
/// counts differ by at most one; otherwise to the <c>p</c>th entry of nginx's smooth weighted order, which
/// interleaves the downstreams (5:1:1 gives a a b a c a a, not a a a a a b c) and is exact over each cycle.
/// </summary>
internal sealed class RoundRobinPolicy : IBalancingPolicy
{
    private readonly RoundRobin _sequence;
    private readonly int _count;
    private readonly int[]? _order;

    /// <param name="sequence">The listener's sequence, shared by its workers and kept across set changes.</param>
    /// <param name="weights">The members' weights, each at least 1.</param>
    public RoundRobinPolicy(RoundRobin sequence, IReadOnlyList<int> weights)
    {
        _sequence = sequence;
        _count = weights.Count;
        // Equal weights need no order: p mod n is the same walk without the lookup.
        if (weights.Distinct().Count() > 1)
        {
            _order = Order(weights);
        }
    }

    public bool UsesSource => false;

    public void Pick(ReadOnlySpan<ulong> sources, Span<int> targets)
    {
        var position = _sequence.Reserve(targets.Length);
        for (var i = 0; i < targets.Length; i++)
        {
            targets[i] = _order is null
                ? RoundRobin.IndexOf(position++, _count)
                : _order[RoundRobin.IndexOf(position++, _order.Length)];
        }
    }

    /// <summary>
    /// One cycle of the order position <c>p</c> walks, each entry an index in the set: 0..n-1 for equal weights,
    /// else nginx's smooth weighted order of the weights divided by their greatest common divisor. The tc_ebpf
    /// programs walk the same order, carried in their set's map.
    /// </summary>
    /// <param name="weights">The members' weights, each at least 1; empty gives an empty order.</param>
    public static int[] Order(IReadOnlyList<int> weights)
    {
        var divisor = weights.Aggregate(0, Gcd);
        return divisor == 0 ? [] : SmoothOrder(weights.Select(w => w / divisor).ToArray());
    }

    /// <summary>nginx's smooth weighted round robin, one cycle of it: each pick raises every member by its weight and lowers the highest by the total.</summary>
    private static int[] SmoothOrder(int[] weights)
    {
        var total = weights.Sum();
        var current = new int[weights.Length];
        var order = new int[total];
        for (var n = 0; n < total; n++)
        {
            var best = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }
            current[best] -= total;
            order[n] = best;
        }
        return order;
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
