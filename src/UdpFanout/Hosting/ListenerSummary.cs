using UdpFanout.Configuration;

namespace UdpFanout.Hosting;

internal static class ListenerSummary
{
    /// <summary>The one line per listener that <c>check</c> prints.</summary>
    public static string Describe(ListenerConfig l)
    {
        var downstreams = l.Kubernetes is { } k
            ? $"kubernetes {k.Namespace}/{k.Service}" + (l.Downstreams.Count > 0 ? $" + {l.Downstreams.Count} static" : "")
            : $"{l.Downstreams.Count} downstream(s)";
        var where = l.Interface is null ? "" : $" on {l.Interface}";
        return $"listener {l.Name}: {l.Mode.YamlName()} {l.Bind}{where}, {downstreams}, {l.Workers} worker(s), batch {l.BatchSize}";
    }
}
