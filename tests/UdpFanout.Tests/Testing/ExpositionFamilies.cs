namespace UdpFanout.Tests.Testing;

/// <summary>
/// Prometheus text exposition in a canonical form: families sorted by name, each with its HELP and TYPE lines and
/// its samples sorted, so two exporters' output compares equal exactly when Prometheus would read the same thing.
/// Fails when a family's lines are not together, which the text format requires.
/// </summary>
internal static class ExpositionFamilies
{
    public static string Normalize(string text, Func<string, bool> keep)
    {
        var families = new Dictionary<string, (List<string> Meta, List<string> Samples)>();
        string? current = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            var name = line.StartsWith('#') ? line.Split(' ')[2] : line[..line.IndexOfAny(['{', ' '])];
            var family = FamilyOf(name, families.Keys, current);
            if (family != current)
            {
                Assert.False(families.ContainsKey(family), $"the lines of {family} are not together");
                families[family] = ([], []);
                current = family;
            }
            (line.StartsWith('#') ? families[family].Meta : families[family].Samples).Add(line);
        }
        return string.Join('\n', families
            .Where(f => keep(f.Key))
            .OrderBy(f => f.Key, StringComparer.Ordinal)
            .SelectMany(f => f.Value.Meta.Concat(f.Value.Samples.Order(StringComparer.Ordinal)))) + "\n";
    }

    /// <summary>A sample belongs to the family whose HELP came last (histogram suffixes and all).</summary>
    private static string FamilyOf(string name, IEnumerable<string> seen, string? current) =>
        current is not null && name.StartsWith(current, StringComparison.Ordinal) ? current : name;
}
