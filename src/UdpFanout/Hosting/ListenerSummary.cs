using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Hosting;

internal static class ListenerSummary
{
    /// <summary>The one line per listener that <c>check</c> prints.</summary>
    public static string Describe(ListenerConfig l)
    {
        var where = l.Interface is null ? "" : $" on {l.Interface}";
        var port = l.Kubernetes?.Port is { } number ? $"port {number}" : $"port named {l.Kubernetes?.PortName}";
        var discovered = l.Kubernetes is { } k ? $" + the endpoints of service {k.Namespace}/{k.Service} ({port})" : "";
        return $"listener {l.Name}: {l.Mode.YamlName()} {l.Bind}{where}, {l.Downstreams.Count} downstream(s){discovered}, {l.Workers} worker(s), batch {l.BatchSize}, balance {Balance(l)}";
    }

    /// <summary>The balance policy as <c>check</c> and the start-up log line name it.</summary>
    public static string Balance(ListenerConfig l) =>
        l.Balance == BalancePolicy.SourceHash ? $"source_hash by {l.HashKey.YamlName()}" : l.Balance.YamlName();
}
