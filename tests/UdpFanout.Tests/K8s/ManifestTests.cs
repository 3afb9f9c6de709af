using System.Net;
using UdpFanout.Configuration;
using UdpFanout.Tests.Configuration;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Tests.K8s;

/// <summary>
/// No cluster runs here, so the manifests in k8s/ are checked for what a mistake would break: RBAC that cannot
/// watch, a service account or label that does not match, a capability the modes need missing, a config that the
/// daemon would refuse, a Service whose address or port is not the listener's.
/// </summary>
public sealed class ManifestTests
{
    private static readonly string Directory = Path.Combine(ConfigLoaderTests.RepositoryRoot(), "k8s");
    private readonly List<YamlMappingNode> _rbac = Load("rbac.yaml");
    private readonly List<YamlMappingNode> _daemonSet = Load("daemonset.yaml");
    private readonly List<YamlMappingNode> _service = Load("service-metallb.yaml");

    [Fact]
    public void Rbac_ClusterRoleGrantsGetListWatchOnEndpointSlicesAndNothingElse()
    {
        var rule = Assert.Single((YamlSequenceNode)Kind(_rbac, "ClusterRole")["rules"]);

        Assert.Equal(["discovery.k8s.io"], Strings(rule["apiGroups"]));
        Assert.Equal(["endpointslices"], Strings(rule["resources"]));
        Assert.Equal(["get", "list", "watch"], Strings(rule["verbs"]).Order());
    }

    [Fact]
    public void Rbac_BindingGivesTheRoleToTheDaemonSetsServiceAccount()
    {
        var binding = Kind(_rbac, "ClusterRoleBinding");
        var account = Kind(_rbac, "ServiceAccount");
        var pod = PodSpec();

        Assert.Equal(Text(Kind(_rbac, "ClusterRole"), "metadata", "name"), Text(binding, "roleRef", "name"));
        var subject = (YamlMappingNode)Assert.Single((YamlSequenceNode)binding["subjects"]);
        Assert.Equal(("ServiceAccount", Text(account, "metadata", "name"), Text(account, "metadata", "namespace")),
            (Text(subject, "kind"), Text(subject, "name"), Text(subject, "namespace")));
        Assert.Equal(Text(account, "metadata", "name"), Text(pod, "serviceAccountName"));
        Assert.Equal(Text(account, "metadata", "namespace"), Text(Kind(_daemonSet, "DaemonSet"), "metadata", "namespace"));
    }

    [Fact]
    public void DaemonSet_HostNetworkWithTheCapabilitiesOfTheSystemdUnit()
    {
        var pod = PodSpec();
        var security = (YamlMappingNode)Container()["securityContext"];
        var unit = File.ReadAllLines(Path.Combine(ConfigLoaderTests.RepositoryRoot(), "systemd", "udp-fanout@.service"))
            .Single(l => l.StartsWith("CapabilityBoundingSet=", StringComparison.Ordinal))["CapabilityBoundingSet=".Length..]
            .Split(' ').Select(c => c["CAP_".Length..]);

        Assert.Equal("true", Text(pod, "hostNetwork"));
        Assert.Equal("ClusterFirstWithHostNet", Text(pod, "dnsPolicy"));
        Assert.Equal(unit.Order(), Strings(security["capabilities"]["add"]).Order());
        Assert.Equal(["ALL"], Strings(security["capabilities"]["drop"]));
        Assert.Equal("false", Text(security, "privileged"));
    }

    [Fact]
    public void DaemonSet_ConfigMapIsMountedWhereTheCommandReadsItAndTheDaemonAcceptsIt()
    {
        var configMap = Kind(_daemonSet, "ConfigMap");
        var volume = (YamlMappingNode)Assert.Single((YamlSequenceNode)PodSpec()["volumes"]);
        var mount = (YamlMappingNode)Assert.Single((YamlSequenceNode)Container()["volumeMounts"]);
        var command = Strings(Container()["command"]);
        var key = Assert.Single(((YamlMappingNode)configMap["data"]).Children.Keys.Select(k => k.ToString()));

        Assert.Equal(Text(configMap, "metadata", "name"), Text(volume, "configMap", "name"));
        Assert.Equal(Text(volume, "name"), Text(mount, "name"));
        Assert.Equal($"{Text(mount, "mountPath")}/{key}", command[command.IndexOf("--config") + 1]);
        Assert.Equal("/usr/bin/udp-fanout", command[0]);

        var config = ConfigLoader.Parse(Text(configMap, "data", key), "daemonset.yaml#config.yaml");
        var listener = Assert.Single(config.Listeners);
        Assert.NotNull(listener.Kubernetes);
        Assert.Null(listener.Kubernetes.Kubeconfig);
    }

    [Fact]
    public void Service_IsTheListenersAddressAndPort_AndSelectsTheDaemonSetsPods()
    {
        var service = Kind(_service, "Service");
        var listener = ConfigLoader.Parse(Text(Kind(_daemonSet, "ConfigMap"), "data", "config.yaml"), "config.yaml").Listeners[0];
        var port = (YamlMappingNode)Assert.Single((YamlSequenceNode)service["spec"]["ports"]);
        var podLabels = (YamlMappingNode)Kind(_daemonSet, "DaemonSet")["spec"]["template"]["metadata"]["labels"];

        Assert.Equal("LoadBalancer", Text(service, "spec", "type"));
        Assert.Equal("Local", Text(service, "spec", "externalTrafficPolicy"));
        Assert.Equal(listener.Bind, new IPEndPoint(IPAddress.Parse(Text(service, "metadata", "annotations", "metallb.io/loadBalancerIPs")), int.Parse(Text(port, "port"))));
        Assert.Equal("UDP", Text(port, "protocol"));
        Assert.Equal(Text(port, "targetPort"), Text((YamlMappingNode)((YamlSequenceNode)Container()["ports"]).First(p => Text((YamlMappingNode)p, "protocol") == "UDP"), "name"));
        Assert.All(((YamlMappingNode)service["spec"]["selector"]).Children, label => Assert.Equal(label.Value.ToString(), podLabels[label.Key].ToString()));
        Assert.Equal(["udp-fanout"], Strings(Kind(_service, "L2Advertisement")["spec"]["ipAddressPools"]));
        Assert.Equal("udp-fanout", Text(service, "metadata", "annotations", "metallb.io/address-pool"));
        Assert.Equal([$"{listener.Bind.Address}/32"], Strings(Kind(_service, "IPAddressPool")["spec"]["addresses"]));
    }

    private YamlMappingNode PodSpec() => (YamlMappingNode)Kind(_daemonSet, "DaemonSet")["spec"]["template"]["spec"];

    private YamlMappingNode Container() => (YamlMappingNode)Assert.Single((YamlSequenceNode)PodSpec()["containers"]);

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Directory, file))));
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlMappingNode Kind(List<YamlMappingNode> documents, string kind) => documents.Single(d => d["kind"].ToString() == kind);

    private static string Text(YamlMappingNode node, params string[] path) =>
        path.Aggregate((YamlNode)node, (current, key) => current[key]).ToString();

    private static List<string> Strings(YamlNode node) => ((YamlSequenceNode)node).Children.Select(c => c.ToString()).ToList();
}
