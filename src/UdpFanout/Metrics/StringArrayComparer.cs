namespace UdpFanout.Metrics;

/// <summary>Compares label value arrays by content.</summary>
internal sealed class StringArrayComparer : IEqualityComparer<string[]>
{
    public static StringArrayComparer Instance { get; } = new();

    public bool Equals(string[]? x, string[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(string[] obj)
    {
        var hash = new HashCode();
        foreach (var s in obj)
        {
            hash.Add(s);
        }
        return hash.ToHashCode();
    }
}
