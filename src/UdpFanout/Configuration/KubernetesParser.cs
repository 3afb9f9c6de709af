using System.Text.RegularExpressions;

namespace UdpFanout.Configuration;

/// <summary>Reads a listener's <c>kubernetes:</c> discovery section.</summary>
internal static partial class KubernetesParser
{
    public static KubernetesDiscoveryConfig? Parse(YamlSection s)
    {
        var errorsBefore = s.Errors.All.Count;
        var ns = Name(s, "namespace");
        var service = Name(s, "service");
        var port = s.Int("port", 1, 65535);
        var portName = s.String("port_name");
        var kubeconfig = s.String("kubeconfig");
        if (s.Get("port") is null == (s.Get("port_name") is null))
        {
            s.Errors.Add(s.Node, s.PathOf("port"), "give exactly one of port (a number) or port_name (the EndpointSlice port's name)");
        }
        if (kubeconfig is not null && !File.Exists(kubeconfig))
        {
            s.Errors.Add(s.Get("kubeconfig")!, s.PathOf("kubeconfig"), $"{kubeconfig} does not exist (leave kubeconfig out to use the pod's service account or $KUBECONFIG)");
        }
        s.ReportUnknownKeys();
        return s.Errors.All.Count != errorsBefore || ns is null || service is null
            ? null
            : new KubernetesDiscoveryConfig { Namespace = ns, Service = service, Port = port, PortName = portName, Kubeconfig = kubeconfig };
    }

    /// <summary>Namespaces and services are DNS labels; a typo here would otherwise only show as an empty watch.</summary>
    private static string? Name(YamlSection s, string key)
    {
        var value = s.String(key, required: true);
        if (value is not null && !DnsLabel().IsMatch(value))
        {
            s.Errors.Add(s.Get(key)!, s.PathOf(key), $"'{value}' is not a valid Kubernetes name (lower-case letters, digits and '-', at most 63)");
            return null;
        }
        return value;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
