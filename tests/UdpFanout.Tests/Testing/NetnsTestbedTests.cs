namespace UdpFanout.Tests.Testing;

[Collection(KernelCollection.Name)]
public sealed class NetnsTestbedTests
{
    [Fact]
    public void Create_DualStack_ClientReachesEveryDownstreamOverIpv6ThroughTheProxy()
    {
        using var bed = NetnsTestbed.Create("u6c", "10.190", downstreams: 2, ipv6: "fd90");

        foreach (var i in new[] { 0, 1 })
        {
            var (code, output) = bed.Client.TryExec($"ping -6 -c 1 -W 2 {bed.DownstreamAddress6(i)}");
            Assert.True(code == 0, output);
            // Through the proxy: one hop taken off the echo request's hop limit (64), so the reply left at 64 and is seen at 63.
            Assert.Contains("ttl=63", output);
        }
        Assert.Equal(0, bed.Client.TryExec($"ping -c 1 -W 2 {bed.DownstreamAddress(1)}").Code);
        Assert.Equal(0, bed.Downstreams[0].TryExec($"ping -6 -c 1 -W 2 {bed.ClientAddress6}").Code);
        Assert.Equal(0, bed.Client.TryExec($"ping -6 -c 1 -W 2 {bed.ProxyAddress6}").Code);
    }

    [Fact]
    public void Ipv6Accessors_Ipv4OnlyTestbed_SayHowToGetIpv6()
    {
        using var bed = NetnsTestbed.Create("u6c", "10.190", downstreams: 0);

        var e = Assert.Throws<InvalidOperationException>(() => bed.ClientAddress6);
        Assert.Equal("this testbed is IPv4 only: create it with an ipv6 prefix", e.Message);
    }
}
