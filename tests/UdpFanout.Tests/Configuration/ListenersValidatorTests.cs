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
    public void Validate_TwoTcEbpfListenersOnOneInterfaceWhoseFilterHandlesCollide_AreRefusedAsTheStartWouldRefuseThem()
    {
        // Port 5514 and the last two bytes 2.7 in both: one tc filter handle.
        var error = Single("""
            listeners:
              - { name: a, bind: "10.1.2.7:5514", mode: tc_ebpf, interface: eth0, downstream: [{ name: d, address: "10.9.0.1:6000" }] }
              - name: b
                bind: "10.3.2.7:5514"
                mode: tc_ebpf
                interface: eth0
                downstream: [{ name: d, address: "10.9.0.1:6000" }]
            """);

        Assert.Equal($"{File}:4:11: listeners[1].bind: the tc filter of this listener on eth0 would replace the one of listener 'a' (line 2): "
            + "10.3.2.7:5514 and 10.1.2.7:5514 have the same port and the same last two address bytes (give one of them another port)",
            error.ToString());
    }

    [Fact]
    public void Validate_AnIpv6TcEbpfListenerWhoseLastTwoAddressBytesCollide_IsRefused()
    {
        // fd00::1:207 ends in the bytes 2.7 too: an IPv6 bind's handle takes its last two bytes, as an IPv4 one's.
        var error = Single("""
            listeners:
              - { name: a, bind: "10.1.2.7:5514", mode: tc_ebpf, interface: eth0, downstream: [{ name: d, address: "10.9.0.1:6000" }] }
              - { name: b, bind: "[fd00::1:207]:5514", mode: tc_ebpf, interface: eth0, downstream: [{ name: d, address: "[fd00::9]:6000" }] }
            """);

        Assert.Equal($"{File}:3:22: listeners[1].bind: the tc filter of this listener on eth0 would replace the one of listener 'a' (line 2): "
            + "[fd00::1:207]:5514 and 10.1.2.7:5514 have the same port and the same last two address bytes (give one of them another port)",
            error.ToString());
    }

    [Theory]
    [InlineData("tc_ebpf", "eth0", "tc_ebpf", "[fd00::2:8]:5514")] // an IPv6 bind ending in other bytes
    [InlineData("tc_ebpf", "eth1", "tc_ebpf", "10.3.2.7:5514")] // another interface: another set of filters
    [InlineData("userspace", "eth0", "tc_ebpf", "10.3.2.7:5514")] // no filter for userspace
    [InlineData("tc_ebpf", "eth0", "af_xdp", "10.3.2.7:5514")] // af_xdp attaches XDP, not a tc filter
    [InlineData("tc_ebpf", "eth0", "tc_ebpf", "10.3.2.8:5514")] // another last byte
    [InlineData("tc_ebpf", "eth0", "tc_ebpf", "10.3.2.7:5515")] // another port
    public void Validate_TcFilterHandlesThatCannotCollide_AreAccepted(string firstMode, string secondInterface, string secondMode, string secondBind)
    {
        var config = ConfigLoader.Parse($$"""
            listeners:
              - { name: a, bind: "10.1.2.7:5514", mode: {{firstMode}}, interface: eth0, downstream: [{ name: d, address: "10.9.0.1:6000" }] }
              - { name: b, bind: "{{secondBind}}", mode: {{secondMode}}, interface: {{secondInterface}}, downstream: [{ name: d, address: "10.9.0.1:6000" }] }
            """, File);

        Assert.Equal(2, config.Listeners.Count);
    }

    [Fact]
    public void Validate_AnAfXdpListenerOnAnInterfaceTunedAboveTheUmemLimit_IsRefusedWithTheLimit()
    {
        var error = Single("""
            listeners:
              - name: fast
                bind: "10.0.0.5:5514"
                mode: af_xdp
                interface: eth0
                downstream: [{ name: d, address: "10.9.0.1:6000" }]
            tuning:
              - interface: eth0
                mtu: 3823
            """);

        Assert.Equal($"{File}:5:16: listeners[0].interface: tuning: sets MTU 3823 on eth0 (line 9), but af_xdp receives frames of an MTU up to 3822 "
            + "(a frame must fit in one 4096-byte UMEM frame after the kernel's 256 bytes of headroom): lower the MTU to 3822 or less, or use mode tc_ebpf or userspace",
            error.ToString());
    }

    [Theory]
    [InlineData("af_xdp", "eth0", 3822)] // the largest that fits
    [InlineData("af_xdp", "eth1", 9000)] // another interface's MTU
    [InlineData("tc_ebpf", "eth0", 9000)] // no UMEM in this mode
    public void Validate_TunedMtusTheListenersCanTake_AreAccepted(string mode, string tunedInterface, int mtu)
    {
        var config = ConfigLoader.Parse($$"""
            listeners:
              - { name: a, bind: "10.0.0.5:5514", mode: {{mode}}, interface: eth0, downstream: [{ name: d, address: "10.9.0.1:6000" }] }
            tuning:
              - { interface: {{tunedInterface}}, mtu: {{mtu}} }
            """, File);

        Assert.Equal(mtu, config.Tuning.Single().Mtu);
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
