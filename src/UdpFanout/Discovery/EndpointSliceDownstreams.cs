using System.Net;
using System.Net.Sockets;
using k8s.Models;
using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Discovery;

/// <summary>
/// Turns a service's EndpointSlices into downstreams: ready, non-terminating endpoints, named after their pod. A
/// dual-stack service has one slice per family (addressType IPv4 or IPv6), and every mode forwards to both, so a
/// listener takes the pods at both addresses; FQDN slices name no address and are skipped.
/// </summary>
internal static class EndpointSliceDownstreams
{
    public static IReadOnlyList<Downstream> From(IEnumerable<V1EndpointSlice> slices, KubernetesDiscoveryConfig config)
    {
        var byEndpoint = new Dictionary<IPEndPoint, Downstream>();
        foreach (var slice in slices)
        {
            AddressFamily? family = slice.AddressType switch
            {
                "IPv4" => AddressFamily.InterNetwork,
                "IPv6" => AddressFamily.InterNetworkV6,
                _ => null,
            };
            if (family is not { } sliceFamily || PortOf(slice, config) is not { } port)
            {
                continue;
            }
            foreach (var endpoint in slice.Endpoints ?? [])
            {
                if (!Serves(endpoint))
                {
                    continue;
                }
                foreach (var text in endpoint.Addresses ?? [])
                {
                    if (IPAddress.TryParse(text, out var address) && address.AddressFamily == sliceFamily)
                    {
                        var at = new IPEndPoint(address, port);
                        // The same pod in two slices (briefly, while the controller moves it) is one downstream.
                        byEndpoint.TryAdd(at, new Downstream(endpoint.TargetRef?.Name ?? endpoint.Hostname ?? text, at));
                    }
                }
            }
        }
        // A stable order, so the same endpoints always make the same set and an unchanged list is not republished.
        return byEndpoint.Values
            .OrderBy(d => d.Name, StringComparer.Ordinal)
            .ThenBy(d => d.Endpoint.ToString(), StringComparer.Ordinal)
            .ToArray();
    }

    /// <summary>
    /// Kubernetes' own rule: a missing <c>ready</c> condition means ready; <c>terminating</c> endpoints are leaving
    /// even while they still serve, so new datagrams go elsewhere.
    /// </summary>
    private static bool Serves(V1Endpoint endpoint) =>
        endpoint.Conditions?.Ready != false && endpoint.Conditions?.Terminating != true;

    private static int? PortOf(V1EndpointSlice slice, KubernetesDiscoveryConfig config)
    {
        if (config.Port is { } number)
        {
            return number;
        }
        return slice.Ports?.FirstOrDefault(p => p.Name == config.PortName && p.Protocol is null or "UDP")?.Port;
    }
}
