using k8s;
using k8s.Exceptions;
using UdpFanout.Configuration;

namespace UdpFanout.Discovery;

/// <summary>
/// Makes the API client a listener's discovery uses: the configured kubeconfig, else the pod's service account,
/// else <c>$KUBECONFIG</c>. Never the library's last resort of <c>http://localhost:8080</c>, which would only
/// fail later and less clearly.
/// </summary>
internal static class KubernetesConnection
{
    public static Kubernetes Create(KubernetesDiscoveryConfig config)
    {
        var path = config.Kubeconfig;
        try
        {
            if (path is not null)
            {
                return new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(path));
            }
            if (KubernetesClientConfiguration.IsInCluster())
            {
                return new Kubernetes(KubernetesClientConfiguration.InClusterConfig());
            }
            path = Environment.GetEnvironmentVariable("KUBECONFIG");
            if (string.IsNullOrEmpty(path))
            {
                throw new DiscoveryException(
                    "no way to reach the Kubernetes API: set kubernetes.kubeconfig, run in a pod with a service account, or set KUBECONFIG");
            }
            return new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(path));
        }
        catch (Exception e) when (e is KubeConfigException or IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException)
        {
            throw new DiscoveryException($"cannot use the kubeconfig {path ?? "of the service account"}: {e.Message}", e);
        }
    }
}
