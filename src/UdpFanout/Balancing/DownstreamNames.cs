namespace UdpFanout.Balancing;

/// <summary>
/// Names a few downstreams for a log line. A set of 10,000 listed in full makes a line journald cuts (48 KB by
/// default) and nobody reads; the full set stays in the metrics (<c>udp_fanout_downstream_up</c>).
/// </summary>
internal static class DownstreamNames
{
    public const int Shown = 5;

    /// <summary>"a (10.0.0.1:514), b (10.0.0.2:514) and 998 more"; "none" for none.</summary>
    public static string Summary(IReadOnlyCollection<Downstream> downstreams)
    {
        if (downstreams.Count == 0)
        {
            return "none";
        }
        var shown = string.Join(", ", downstreams.Take(Shown));
        return downstreams.Count > Shown ? $"{shown} and {downstreams.Count - Shown} more" : shown;
    }
}
