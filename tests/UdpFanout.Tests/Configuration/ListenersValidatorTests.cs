using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

/// <summary>The checks across listeners, as <c>check</c> and a reload run them: through the loader, with positions.</summary>
public sealed class ListenersValidatorTests
{
    private const string File = "/etc/udp-fanout/config.yaml";

    [Theory]
    [InlineData("10.0.0.5:5514", "userspace", "10.0.0.5:5514", "tc_ebpf")]
    [InlineData("0.0.0.0:5514", "af_xdp", "10.0.0.1:5514", "userspace")]
    [InlineData("10.0.0.1:5514", "tc_ebpf", "0.0.0.0:5514", "af_xdp")]
    public void Validate_BindsThatOverlapInDifferentModes_AreRefused(string first, string firstMode, string second, string secondMode)
    {
        var error = Single($"""
            listeners:
              - {Listener("a", first, firstMode)}
              - {Listener("b", second, secondMode)}
            """);

        Assert.Equal((3, "listeners[1].bind",
                $"{second} overlaps the bind {first} of listener 'a' (mode {firstMode}, line 2): both would receive on that port and split its datagrams; give one of them another port"),
            (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Validate_SamePortOnTwoAddressesOrTwoPorts_IsAccepted()
    {
        var config = ConfigLoader.Parse($"""
            listeners:
              - {Listener("a", "10.0.0.1:5514", "userspace")}
              - {Listener("b", "10.0.0.2:5514", "tc_ebpf")}
              - {Listener("c", "0.0.0.0:5515", "af_xdp")}
            """, File);

        Assert.Equal(3, config.Listeners.Count);
    }

    [Fact]
    public void Validate_ADownstreamThatIsTheListenersOwnBind_IsRefusedAtItsAddress()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "10.0.0.5:5514"
                downstream:
                  - { name: ok, address: "10.0.0.6:5514" }
                  - name: loop
                    address: "10.0.0.5:5514"
            """);

        Assert.Equal($"{File}:7:18: listeners[0].downstream[1].address: 10.0.0.5:5514 is this listener's own bind: every datagram would come back into the listener (a forwarding loop)",
            error.ToString());
    }

    [Fact]
    public void Validate_LoopbackAtTheListenersPortOnEveryAddress_IsRefusedWithoutTheHostsAddresses()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:25514"
                downstream: [{ name: self, address: "127.0.0.1:25514" }]
            """);

        Assert.Equal(("listeners[0].downstream[0].address", "127.0.0.1:25514 is an address of this host, and the listener receives on port 25514 of every local address (bind 0.0.0.0:25514): every datagram would come back into it (a forwarding loop)"),
            (error.Path, error.Message));
    }

    [Fact]
    public void Validate_AnAddressOfThisHost_IsALoopOnlyWhenTheHostsAddressesAreGiven()
    {
        const string yaml = """
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: [{ name: self, address: "10.0.0.5:5514" }]
            """;
        var host = new HostAddresses([new HostAddress("eth0", IPAddress.Parse("10.0.0.5"), 24)]);

        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, File, host)).Errors);

        Assert.Equal("10.0.0.5:5514 is an address of this host, and the listener receives on port 5514 of every local address (bind 0.0.0.0:5514): every datagram would come back into it (a forwarding loop)", error.Message);
        Assert.Single(ConfigLoader.Parse(yaml, File).Listeners);
    }

    [Theory]
    [InlineData("0.0.0.0:6000", "0.0.0.0:6000 is the unspecified address")]
    [InlineData("255.255.255.255:6000", "255.255.255.255:6000 is the broadcast address")]
    [InlineData("239.0.0.1:6000", "239.0.0.1:6000 is a multicast address")]
    public void Validate_UnspecifiedBroadcastAndMulticastDownstreams_AreRefused(string address, string start)
    {
        var error = Single($$"""
            listeners:
              - name: syslog
                bind: "10.0.0.5:5514"
                downstream: [{ name: many, address: "{{address}}" }]
            """);

        Assert.StartsWith(start, error.Message);
        Assert.Equal("listeners[0].downstream[0].address", error.Path);
    }

    [Fact]
    public void Validate_TcEbpfToLoopback_IsRefusedStatically()
    {
        var error = Single("""
            listeners:
              - name: flows
                bind: "10.0.0.5:2055"
                mode: tc_ebpf
                interface: eth0
                downstream: [{ name: local, address: "127.0.0.1:2055" }]
            """);

        Assert.Equal(("listeners[0].downstream[0].address", "127.0.0.1:2055 is a loopback address: mode tc_ebpf routes each datagram with bpf_fib_lookup, which answers \"local\" for it, so every datagram would be dropped as no_route; use mode userspace or af_xdp to forward to a receiver on this host"),
            (error.Path, error.Message));
    }

    [Fact]
    public void Validate_TwoListenersForwardingToEachOther_BothDownstreamsAreRefused()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""
            listeners:
              - name: a
                bind: "0.0.0.0:5514"
                downstream: [{ name: to-b, address: "127.0.0.1:5515" }]
              - name: b
                bind: "0.0.0.0:5515"
                downstream: [{ name: to-a, address: "127.0.0.1:5514" }, { name: out, address: "10.0.0.9:5514" }]
            """, File)).Errors;

        Assert.Equal(
            [
                ("listeners[0].downstream[0].address", "127.0.0.1:5515 reaches listener 'b' (bind 0.0.0.0:5515), whose downstreams lead back to this listener: datagrams would circle between them (a forwarding loop)"),
                ("listeners[1].downstream[0].address", "127.0.0.1:5514 reaches listener 'a' (bind 0.0.0.0:5514), whose downstreams lead back to this listener: datagrams would circle between them (a forwarding loop)"),
            ],
            errors.Select(e => (e.Path, e.Message)));
    }

    [Fact]
    public void Validate_ARingOfThreeListeners_IsRefused()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""
            listeners:
              - { name: a, bind: "127.0.0.1:5514", downstream: [{ name: n, address: "127.0.0.1:5515" }] }
              - { name: b, bind: "127.0.0.1:5515", downstream: [{ name: n, address: "127.0.0.1:5516" }] }
              - { name: c, bind: "127.0.0.1:5516", downstream: [{ name: n, address: "127.0.0.1:5514" }] }
            """, File)).Errors;

        Assert.Equal(["listeners[0].downstream[0].address", "listeners[1].downstream[0].address", "listeners[2].downstream[0].address"], errors.Select(e => e.Path));
    }

    [Fact]
    public void Validate_AChainOfListenersThatEndsElsewhere_IsAccepted()
    {
        var config = ConfigLoader.Parse("""
            listeners:
              - { name: a, bind: "0.0.0.0:5514", downstream: [{ name: to-b, address: "127.0.0.1:5515" }] }
              - { name: b, bind: "0.0.0.0:5515", downstream: [{ name: out, address: "10.0.0.9:5514" }] }
            """, File);

        Assert.Equal(2, config.Listeners.Count);
    }

    [Fact]
    public void Validate_AHealthProbePortThatReachesAListener_IsRefused()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: [{ name: local, address: "127.0.0.1:6000" }]
            health: { enabled: true, protocol: udp_echo, probe_port: 5514 }
            """);

        Assert.Equal((5, "health.probe_port", "probes of downstream 'local' of listener 'syslog' go to 127.0.0.1:5514, which reaches listener 'syslog' (bind 0.0.0.0:5514): they would be forwarded as traffic, not echoed; give the port the downstreams echo on"),
            (error.Line, error.Path, error.Message));
    }

    private static string Listener(string name, string bind, string mode) =>
        $$"""{ name: {{name}}, bind: "{{bind}}", mode: {{mode}}, interface: eth0, downstream: [{ name: d, address: "10.9.0.1:6000" }] }""";

    private static ConfigError Single(string yaml) =>
        Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, File)).Errors);
}
