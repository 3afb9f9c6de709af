using System.Text.Json.Nodes;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// EndpointSlices as a real API server returns them (the endpointslice controller's labels, owner reference and
/// managed fields included), so the client's decoding is tested against the real shape, not a trimmed one.
/// </summary>
internal static class EndpointSliceJson
{
    public sealed record Pod(string Name, string Ip, bool? Ready = true, bool? Terminating = false);

    public static JsonObject Slice(
        string name, string service, IEnumerable<Pod> pods, string @namespace = "logging", string portName = "syslog", int port = 5514, string addressType = "IPv4") =>
        new()
        {
            ["kind"] = "EndpointSlice",
            ["apiVersion"] = "discovery.k8s.io/v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["generateName"] = service + "-",
                ["namespace"] = @namespace,
                ["uid"] = Guid.NewGuid().ToString(),
                ["generation"] = 1,
                ["creationTimestamp"] = "2026-11-20T10:00:00Z",
                ["labels"] = new JsonObject
                {
                    ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io",
                    ["kubernetes.io/service-name"] = service,
                    ["app.kubernetes.io/name"] = "vector",
                },
                ["annotations"] = new JsonObject { ["endpoints.kubernetes.io/last-change-trigger-time"] = "2026-11-20T10:00:00Z" },
                ["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = "v1",
                    ["kind"] = "Service",
                    ["name"] = service,
                    ["uid"] = Guid.NewGuid().ToString(),
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                }),
                ["managedFields"] = new JsonArray(new JsonObject
                {
                    ["manager"] = "kube-controller-manager",
                    ["operation"] = "Update",
                    ["apiVersion"] = "discovery.k8s.io/v1",
                    ["time"] = "2026-11-20T10:00:00Z",
                    ["fieldsType"] = "FieldsV1",
                    ["fieldsV1"] = new JsonObject { ["f:addressType"] = new JsonObject(), ["f:endpoints"] = new JsonObject() },
                }),
            },
            ["addressType"] = addressType,
            ["endpoints"] = new JsonArray(pods.Select(p => (JsonNode)new JsonObject
            {
                ["addresses"] = new JsonArray(p.Ip),
                ["conditions"] = Conditions(p),
                ["nodeName"] = "node-a",
                ["targetRef"] = new JsonObject { ["kind"] = "Pod", ["namespace"] = @namespace, ["name"] = p.Name, ["uid"] = Guid.NewGuid().ToString() },
                ["zone"] = "zone-a",
            }).ToArray()),
            ["ports"] = new JsonArray(new JsonObject { ["name"] = portName, ["protocol"] = "UDP", ["port"] = port }),
        };

    private static JsonObject Conditions(Pod pod)
    {
        // The API server leaves out conditions it does not know, as it does for endpoints of older controllers.
        var conditions = new JsonObject();
        if (pod.Ready is { } ready)
        {
            conditions["ready"] = ready;
            conditions["serving"] = ready || pod.Terminating == true;
        }
        if (pod.Terminating is { } terminating)
        {
            conditions["terminating"] = terminating;
        }
        return conditions;
    }
}
