namespace UdpFanout.Configuration;

/// <summary>Reads a listener's <c>kubernetes:</c> discovery section.</summary>
internal static class KubernetesParser
{
    public static KubernetesDiscoveryConfig? Parse(YamlSection s)
    {
        var ns = s.String("namespace", required: true);
        var service = s.String("service", required: true);
        var port = s.Int("port", 1, 65535);
        var portName = s.String("port_name");
        var kubeconfig = s.String("kubeconfig");
        if (s.Get("port") is null == (s.Get("port_name") is null))
        {
            s.Errors.Add(s.Node, s.PathOf("port"), "give exactly one of port (a number) or port_name (the EndpointSlice port's name)");
        }
        s.ReportUnknownKeys();
        return ns is null || service is null
            ? null
            : new KubernetesDiscoveryConfig { Namespace = ns, Service = service, Port = port, PortName = portName, Kubeconfig = kubeconfig };
    }
}
