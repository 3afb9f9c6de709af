using UdpFanout.Configuration;

namespace UdpFanout.Balancing;

/// <summary>The one place that maps a listener's <c>balance:</c> to the policy that serves a downstream set.</summary>
internal static class BalancingPolicies
{
    /// <param name="sequence">The listener's round-robin sequence, kept across sets.</param>
    public static IBalancingPolicy For(BalancePolicy balance, IReadOnlyList<Downstream> members, RoundRobin sequence) =>
        balance switch
        {
            // An empty set needs no table: workers drop before they ask the policy.
            BalancePolicy.SourceHash when members.Count > 0 => new MaglevPolicy(members),
            _ => new RoundRobinPolicy(sequence, members.Select(d => d.Weight).ToArray()),
        };
}
