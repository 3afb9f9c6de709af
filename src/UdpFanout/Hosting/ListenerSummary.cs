using UdpFanout.Configuration;

namespace UdpFanout.Hosting;

internal static class ListenerSummary
{
    /// <summary>The one line per listener that <c>check</c> prints.</summary>
    public static string Describe(ListenerConfig l)
    {
        var where = l.Interface is null ? "" : $" on {l.Interface}";
        return $"listener {l.Name}: {l.Mode.YamlName()} {l.Bind}{where}, {l.Downstreams.Count} downstream(s), {l.Workers} worker(s), batch {l.BatchSize}";
    }
}
