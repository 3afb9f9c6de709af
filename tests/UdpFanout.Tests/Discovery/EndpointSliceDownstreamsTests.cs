using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using UdpFanout.Configuration;
using UdpFanout.Discovery;
using UdpFanout.Tests.Testing;
using Pod = UdpFanout.Tests.Testing.EndpointSliceJson.Pod;

namespace UdpFanout.Tests.Discovery;

public sealed class EndpointSliceDownstreamsTests
{
    private static readonly KubernetesDiscoveryConfig ByName = new() { Namespace = "logging", Service = "vector", PortName = "syslog" };

    [Fact]
    public void From_ReadyAndUnknownReady_AreIn_NotReadyAndTerminating_AreOut()
    {
        var slice = Slice("vector-a", [
            new Pod("ready", "10.244.0.1"),
            new Pod("unknown", "10.244.0.2", Ready: null, Terminating: null),
            new Pod("not-ready", "10.244.0.3", Ready: false),
            new Pod("terminating", "10.244.0.4", Ready: false, Terminating: true),
            new Pod("terminating-serving", "10.244.0.5", Ready: true, Terminating: true),
        ]);

        var downstreams = EndpointSliceDownstreams.From([slice], ByName);

        Assert.Equal(["ready 10.244.0.1:5514", "unknown 10.244.0.2:5514"], downstreams.Select(d => $"{d.Name} {d.Endpoint}"));
    }

    [Fact]
    public void From_PortName_TakesThatPortOfEachSlice_AndSkipsSlicesWithoutIt()
    {
        var syslog = Slice("vector-a", [new Pod("a", "10.244.0.1")], portName: "syslog", port: 6514);
        var other = Slice("vector-b", [new Pod("b", "10.244.0.2")], portName: "metrics", port: 9100);

        var downstreams = EndpointSliceDownstreams.From([syslog, other], ByName);

        Assert.Equal(["a 10.244.0.1:6514"], downstreams.Select(d => $"{d.Name} {d.Endpoint}"));
    }

    [Fact]
    public void From_PortNumber_IsUsedWhateverTheSliceNamesItsPorts()
    {
        var slice = Slice("vector-a", [new Pod("a", "10.244.0.1")], portName: "metrics", port: 9100);

        var downstreams = EndpointSliceDownstreams.From([slice], ByName with { PortName = null, Port = 5000 });

        Assert.Equal(["a 10.244.0.1:5000"], downstreams.Select(d => $"{d.Name} {d.Endpoint}"));
    }

    [Fact]
    public void From_SeveralSlices_AreMergedSortedAndAPodInTwoSlicesCountsOnce()
    {
        var first = Slice("vector-a", [new Pod("c", "10.244.0.3"), new Pod("a", "10.244.0.1")]);
        var second = Slice("vector-b", [new Pod("b", "10.244.0.2"), new Pod("a", "10.244.0.1")]);

        var downstreams = EndpointSliceDownstreams.From([first, second], ByName);

        Assert.Equal(["a", "b", "c"], downstreams.Select(d => d.Name));
    }

    /// <summary>A dual-stack service: one slice per family, each pod in both.</summary>
    [Fact]
    public void From_DualStackService_TakesBothFamilies()
    {
        var ipv4 = Slice("vector-a", [new Pod("a", "10.244.0.1"), new Pod("b", "10.244.0.2")]);
        var ipv6 = Slice("vector-b", [new Pod("a", "fd00:10:244::1"), new Pod("b", "fd00:10:244::2")], addressType: "IPv6");

        var both = EndpointSliceDownstreams.From([ipv4, ipv6], ByName);

        Assert.Equal(["a 10.244.0.1:5514", "a [fd00:10:244::1]:5514", "b 10.244.0.2:5514", "b [fd00:10:244::2]:5514"], both.Select(d => $"{d.Name} {d.Endpoint}"));
    }

    [Fact]
    public void From_AddressOfAnotherFamilyThanItsSliceOrAnFqdnSlice_IsSkipped()
    {
        var ipv6 = Slice("vector-b", [new Pod("a", "10.244.0.1"), new Pod("b", "fd00:10:244::2")], addressType: "IPv6");
        var fqdn = Slice("vector-c", [new Pod("c", "logs.example.com")], addressType: "FQDN");

        var downstreams = EndpointSliceDownstreams.From([ipv6, fqdn], ByName);

        Assert.Equal(["b [fd00:10:244::2]:5514"], downstreams.Select(d => $"{d.Name} {d.Endpoint}"));
    }

    private static V1EndpointSlice Slice(string name, Pod[] pods, string portName = "syslog", int port = 5514, string addressType = "IPv4")
    {
        JsonObject json = EndpointSliceJson.Slice(name, "vector", pods, portName: portName, port: port, addressType: addressType);
        return KubernetesJson.Deserialize<V1EndpointSlice>(json.ToJsonString());
    }
}
