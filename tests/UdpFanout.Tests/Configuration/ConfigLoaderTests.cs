using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

public sealed class ConfigLoaderTests
{
    private const string File = "/etc/udp-fanout/config.yaml";

    [Fact]
    public void Parse_MinimalListener_AppliesDefaults()
    {
        var config = ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream:
                  - { name: a, address: "10.0.0.1:6000" }
            """, File);

        var listener = Assert.Single(config.Listeners);
        Assert.Equal(ForwardingMode.Userspace, listener.Mode);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 5514), listener.Bind);
        Assert.Equal([new DownstreamConfig("a", IPEndPoint.Parse("10.0.0.1:6000"))], listener.Downstreams);
        Assert.Equal(1, listener.Workers);
        Assert.Equal(64, listener.BatchSize);
        Assert.Equal(65507, listener.MaxPacketSize);
        Assert.False(config.Health.Enabled);
        Assert.True(config.Metrics.Enabled);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9718), config.Metrics.Bind);
        Assert.Equal(File, config.SourcePath);
    }

    /// <summary>A config that sets every option once (the fuzz test mutates it too).</summary>
    internal const string EveryOption = """
        listeners:
          - name: flows
            bind: "10.0.0.10:2055"
            mode: af_xdp
            interface: eth1
            downstream: [{ name: a, address: "10.0.1.1:2055" }]
            workers: 3
            cpus: [2, 3]
            batch_size: 128
            recv_buffer_bytes: 65536
            send_buffer_bytes: 32768
            max_packet_size: 9000
            xdp_mode: skb
            queues: 2
        health: { enabled: true, interval_secs: 0.5, timeout_secs: 0.2, protocol: udp_echo, probe_port: 7, unhealthy_threshold: 4, healthy_threshold: 1, fail_open: true }
        metrics: { enabled: false, bind: "0.0.0.0:9100" }
        tuning:
          - { interface: eth1, mtu: 3498, combined_channels: 4 }
        memlock: unlimited
        """;

    [Fact]
    public void Parse_EveryOption_IsRead()
    {
        var config = ConfigLoader.Parse(EveryOption, File);

        var l = config.Listeners[0];
        Assert.Equal((ForwardingMode.AfXdp, "eth1", 3, 128, 65536, 32768, 9000, XdpAttachMode.Skb, (int?)2),
            (l.Mode, l.Interface, l.Workers, l.BatchSize, l.RecvBufferBytes, l.SendBufferBytes, l.MaxPacketSize, l.XdpMode, l.Queues));
        Assert.Equal([2, 3], l.Cpus);
        Assert.Equal(new HealthConfig
        {
            Enabled = true, Interval = TimeSpan.FromSeconds(0.5), Timeout = TimeSpan.FromSeconds(0.2), Protocol = HealthProtocol.UdpEcho,
            ProbePort = 7, UnhealthyThreshold = 4, HealthyThreshold = 1, FailOpen = true,
        }, config.Health);
        Assert.Equal(new MetricsConfig { Enabled = false, Bind = IPEndPoint.Parse("0.0.0.0:9100") }, config.Metrics);
        Assert.Equal([new InterfaceTuningConfig("eth1", 3498, 4)], config.Tuning);
        Assert.Equal(ulong.MaxValue, config.MemlockBytes);
    }

    [Fact]
    public void Load_TheExampleFile_PassesCheck()
    {
        var example = Path.Combine(RepositoryRoot(), "config.example.yaml");

        var config = ConfigLoader.Load(example);

        Assert.NotEmpty(config.Listeners);
    }

    [Fact]
    public void Load_MissingFile_SaysItCannotBeRead()
    {
        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Load("/nonexistent/udp-fanout.yaml")).Errors);

        Assert.Equal("/nonexistent/udp-fanout.yaml", error.File);
        Assert.StartsWith("cannot read the config file: ", error.Message);
    }

    [Fact]
    public void Parse_YamlSyntaxError_IsPositioned()
    {
        var error = Single("""
            listeners:
              - name: "unterminated
            """);

        Assert.Equal((File, "(yaml)"), (error.File, error.Path));
        Assert.True(error.Line >= 2, error.ToString());
    }

    [Theory]
    [InlineData("worker: 2", "listeners[0].worker", "unknown key 'worker'; did you mean 'workers'?")]
    [InlineData("bind_address: x", "listeners[0].bind_address", "unknown key 'bind_address' (known keys: balance, batch_size, bind, cpus, downstream, hash_key, interface, kubernetes, max_packet_size, metrics_bind, mode, name, preserve_source, queues, recv_buffer_bytes, send_buffer_bytes, workers, xdp, xdp_mode)")]
    [InlineData("workers: 0", "listeners[0].workers", "0 is out of range (1..256)")]
    [InlineData("workers: many", "listeners[0].workers", "'many' is not a whole number")]
    [InlineData("workers: [1]", "listeners[0].workers", "expected a number, found a list")]
    [InlineData("batch_size: 4096", "listeners[0].batch_size", "4096 is out of range (1..1024)")]
    [InlineData("max_packet_size: 65508", "listeners[0].max_packet_size", "65508 is out of range (1..65507)")]
    [InlineData("mode: kernel", "listeners[0].mode", "unknown value 'kernel' (expected userspace | tc_ebpf | af_xdp)")]
    [InlineData("cpus: [0, 0]", "listeners[0].cpus[1]", "CPU 0 is listed twice")]
    [InlineData("cpus: [-1]", "listeners[0].cpus[0]", "expected a CPU number (0..1023)")]
    [InlineData("xdp_mode: native", "listeners[0].xdp_mode", "only applies to mode af_xdp, not userspace")]
    [InlineData("preserve_source: yes", "listeners[0].preserve_source", "'yes' is not true or false")]
    [InlineData("xdp: off", "listeners[0].xdp", "only applies to mode tc_ebpf, not userspace (af_xdp attaches at XDP anyway: see xdp_mode)")]
    [InlineData("balance: least_conn", "listeners[0].balance", "unknown value 'least_conn' (expected round_robin | source_hash)")]
    [InlineData("hash_key: source_ip_port", "listeners[0].hash_key", "only applies to balance: source_hash")]
    [InlineData("interface: \"eth0/1\"", "listeners[0].interface", "'eth0/1' is not a valid interface name (1-15 characters, no '/', ':' or spaces)")]
    public void Parse_BadListenerField_ReportsFieldAndPosition(string line, string path, string message)
    {
        var error = Single($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: [{"{"} name: a, address: "10.0.0.1:6000" {"}"}]
                {line}
            """);

        Assert.Equal((5, path, message), (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Parse_BalanceAndWeights_AreRead()
    {
        var config = ConfigLoader.Parse("""
            listeners:
              - name: flows
                bind: "0.0.0.0:2055"
                balance: source_hash
                hash_key: source_ip_port
                downstream:
                  - { name: a, address: "10.0.0.1:2055", weight: 3 }
                  - { name: b, address: "10.0.0.2:2055", weight: 0 }
                  - { name: c, address: "10.0.0.3:2055" }
            """, File);

        var l = config.Listeners[0];
        Assert.Equal((BalancePolicy.SourceHash, HashKey.SourceIpPort), (l.Balance, l.HashKey));
        Assert.Equal([3, 0, 1], l.Downstreams.Select(d => d.Weight));
    }

    [Fact]
    public void Parse_NoBalance_RoundRobinBySourceIp()
    {
        var l = ConfigLoader.Parse("""
            listeners:
              - { name: l, bind: "0.0.0.0:2055", downstream: [{ name: a, address: "10.0.0.1:2055" }] }
            """, File).Listeners[0];

        Assert.Equal((BalancePolicy.RoundRobin, HashKey.SourceIp, 1), (l.Balance, l.HashKey, l.Downstreams[0].Weight));
    }

    [Theory]
    [InlineData("weight: 101", "listeners[0].downstream[0].weight", "101 is out of range (0..100)")]
    [InlineData("weight: -1", "listeners[0].downstream[0].weight", "-1 is out of range (0..100)")]
    public void Parse_BadWeight_ReportsFieldAndPosition(string line, string path, string message)
    {
        var error = Single($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream:
                  - name: a
                    address: "10.0.0.1:6000"
                    {line}
            """);

        Assert.Equal((7, path, message), (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Parse_TcEbpfRoundRobinWithWeightAbove1_IsAccepted()
    {
        var l = ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "10.0.0.9:5514"
                mode: tc_ebpf
                interface: eth0
                downstream: [{ name: a, address: "10.0.0.1:6000", weight: 2 }]
            """, File).Listeners[0];

        Assert.Equal(2, l.Downstreams[0].Weight);
    }

    [Theory]
    [InlineData("", "auto")]
    [InlineData("xdp: auto", "auto")]
    [InlineData("xdp: on", "on")]
    [InlineData("xdp: off", "off")]
    public void Parse_TcEbpfXdp_AutoByDefault(string line, string expected)
    {
        var l = ConfigLoader.Parse($$"""
            listeners:
              - name: syslog
                bind: "10.0.0.9:5514"
                mode: tc_ebpf
                interface: eth0
                {{line}}
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """, File).Listeners[0];

        Assert.Equal(expected, UdpFanout.Model.YamlNames.YamlName(l.Xdp));
    }

    [Theory]
    [InlineData("xdp: native", "unknown value 'native' (expected auto | on | off)")]
    [InlineData("xdp: true", "unknown value 'true' (expected auto | on | off)")]
    [InlineData("xdp: [on]", "expected a string, found a list")]
    public void Parse_TcEbpfXdpBadValue_ReportsFieldAndPosition(string line, string message)
    {
        var error = Single($$"""
            listeners:
              - name: syslog
                bind: "10.0.0.9:5514"
                mode: tc_ebpf
                interface: eth0
                {{line}}
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """);

        Assert.Equal((6, "listeners[0].xdp", message), (error.Line, error.Path, error.Message));
    }

    [Theory]
    [InlineData("userspace", "", true)]
    [InlineData("af_xdp", "interface: eth0", true)]
    [InlineData("userspace", "", false)]
    [InlineData("tc_ebpf", "interface: eth0", true)]
    public void Parse_PreserveSource_IsRead(string mode, string iface, bool preserve)
    {
        var l = ConfigLoader.Parse($"""
            listeners:
              - name: syslog
                bind: "10.0.0.9:5514"
                mode: {mode}
                {iface}
                preserve_source: {(preserve ? "true" : "false")}
                downstream: [{"{"} name: a, address: "10.0.0.1:6000" {"}"}]
            """, File).Listeners[0];

        Assert.Equal(preserve, l.PreserveSource);
    }

    [Fact]
    public void Parse_NoPreserveSource_SendsFromTheProxy()
    {
        var l = ConfigLoader.Parse("""
            listeners:
              - { name: l, bind: "0.0.0.0:2055", downstream: [{ name: a, address: "10.0.0.1:2055" }] }
            """, File).Listeners[0];

        Assert.False(l.PreserveSource);
    }

    [Fact]
    public void Parse_TcEbpfPreserveSourceFalse_IsRefusedAsTheKernelPathAlwaysKeepsIt()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "10.0.0.9:5514"
                mode: tc_ebpf
                interface: eth0
                preserve_source: false
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """);

        Assert.Equal((6, "listeners[0].preserve_source", "mode tc_ebpf always keeps the client's source address (the tc program and its fallback socket alike); remove preserve_source, or use mode userspace or af_xdp to send from the proxy's address"),
            (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Parse_TcEbpfSourceHashWithWeights_IsAccepted()
    {
        var l = ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "10.0.0.9:5514"
                mode: tc_ebpf
                interface: eth0
                balance: source_hash
                downstream: [{ name: a, address: "10.0.0.1:6000", weight: 2 }, { name: b, address: "10.0.0.2:6000", weight: 0 }]
            """, File).Listeners[0];

        Assert.Equal((BalancePolicy.SourceHash, 2), (l.Balance, l.Downstreams[0].Weight));
    }

    [Theory]
    [InlineData("\"10.0.0.1\"", "'10.0.0.1' is not an address:port such as \"10.0.0.1:5514\"")]
    [InlineData("\"10.0.0.1:0\"", "'10.0.0.1:0' has port 0; give a port between 1 and 65535")]
    [InlineData("\"10.0.0.1:65536\"", "port 65536 is out of range (1..65535)")]
    [InlineData("\"fd00::1:5514\"", "'fd00::1:5514' is an IPv6 address without brackets, which is ambiguous (is the last group the port?): write the address in brackets before the port, such as \"[fd00::1:5514]:5514\"")]
    [InlineData("\"sink.local:5514\"", "'sink.local:5514' is not an address:port such as \"10.0.0.1:5514\"")]
    public void Parse_BadAddress_SaysWhatIsWrong(string address, string message)
    {
        var error = Single($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream:
                  - name: a
                    address: {address}
            """);

        Assert.Equal((6, 18, "listeners[0].downstream[0].address", message), (error.Line, error.Column, error.Path, error.Message));
    }

    [Fact]
    public void Parse_MissingRequiredField_PointsAtTheMappingThatLacksIt()
    {
        var error = Single("""
            listeners:
              - name: syslog
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """);

        Assert.Equal((2, 5, "listeners[0].bind", "required field is missing"), (error.Line, error.Column, error.Path, error.Message));
    }

    [Fact]
    public void Parse_DuplicateListenerName_NamesTheFirst()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
              - name: syslog
                bind: "0.0.0.0:5515"
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """);

        Assert.Equal((5, "listeners[1].name", "duplicate listener name 'syslog' (first at line 2)"), (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Parse_OverlappingBinds_AreRefused()
    {
        var error = Single("""
            listeners:
              - name: a
                bind: "0.0.0.0:5514"
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
              - name: b
                bind: "10.0.0.5:5514"
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """);

        Assert.Equal((6, "listeners[1].bind", "10.0.0.5:5514 overlaps the bind 0.0.0.0:5514 of listener 'a' (mode userspace, line 2): both would receive on that port and split its datagrams; give one of them another port"), (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Parse_DuplicateDownstreamName_NamesTheFirst()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream:
                  - { name: a, address: "10.0.0.1:6000" }
                  - { name: a, address: "10.0.0.2:6000" }
            """);

        Assert.Equal((6, "listeners[0].downstream[1].name", "duplicate downstream name 'a' (first at line 5)"), (error.Line, error.Path, error.Message));
    }

    [Theory]
    [InlineData("tc_ebpf")]
    [InlineData("af_xdp")]
    public void Parse_EbpfModeWithoutInterface_SaysWhatToAdd(string mode)
    {
        var error = Single($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                mode: {mode}
                downstream: [{"{"} name: a, address: "10.0.0.1:6000" {"}"}]
            """);

        Assert.Equal((2, "listeners[0].interface", $"mode {mode} needs the interface to attach to (e.g. interface: eth0)"), (error.Line, error.Path, error.Message));
    }

    [Theory]
    [InlineData("")]
    [InlineData("    downstream: []")]
    public void Parse_NoDownstreamAndNoDiscovery_IsRefused(string downstream)
    {
        var error = Single($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
            {downstream}
            """);

        Assert.Equal(("listeners[0].downstream", "no downstream and no kubernetes discovery: give a downstream list or a kubernetes section"), (error.Path, error.Message));
    }

    [Fact]
    public void Parse_TcEbpfWithMoreDownstreamsThanTheProgramHolds_IsRefused()
    {
        var downstreams = string.Concat(Enumerable.Range(0, 257).Select(i => $"\n      - {{ name: d{i}, address: \"10.0.{i / 200}.{i % 200 + 1}:5514\" }}"));
        var error = Single($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                mode: tc_ebpf
                interface: eth0
                downstream:{downstreams}
            """);

        Assert.Equal(("listeners[0].downstream", "mode tc_ebpf forwards to at most 256 downstreams; 257 are listed"), (error.Path, error.Message));
    }

    [Fact]
    public void Parse_KubernetesWithStaticDownstreams_KeepsBoth()
    {
        var listener = ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: [{ name: archive, address: "10.9.0.1:5514" }]
                kubernetes: { namespace: logging, service: vector-receivers, port_name: syslog }
            """, File).Listeners[0];

        Assert.Equal(["archive"], listener.Downstreams.Select(d => d.Name));
        Assert.Equal(new KubernetesDiscoveryConfig { Namespace = "logging", Service = "vector-receivers", PortName = "syslog" }, listener.Kubernetes);
    }

    [Fact]
    public void Parse_KubernetesMistakes_EachNamedWithItsField()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                kubernetes: { namespace: Logging, service: vector_receivers, port: 5514, port_name: syslog, kubeconfig: /nonexistent/kubeconfig, watch: true }
            """, File)).Errors;

        Assert.Equal(
            [
                ("listeners[0].kubernetes.port", "give exactly one of port (a number) or port_name (the EndpointSlice port's name)"),
                ("listeners[0].kubernetes.namespace", "'Logging' is not a valid Kubernetes name (lower-case letters, digits and '-', at most 63)"),
                ("listeners[0].kubernetes.service", "'vector_receivers' is not a valid Kubernetes name (lower-case letters, digits and '-', at most 63)"),
                ("listeners[0].kubernetes.kubeconfig", "/nonexistent/kubeconfig does not exist (leave kubeconfig out to use the pod's service account or $KUBECONFIG)"),
                ("listeners[0].kubernetes.watch", "unknown key 'watch' (known keys: kubeconfig, namespace, port, port_name, service)"),
            ],
            errors.Select(e => (e.Path, e.Message)));
    }

    [Fact]
    public void Parse_EmptyListeners_IsRefused()
    {
        var error = Single("listeners: []");

        Assert.Equal((1, "listeners", "the list is empty: configure at least one listener"), (error.Line, error.Path, error.Message));
    }

    [Fact]
    public void Parse_HealthTimeoutNotShorterThanInterval_IsRefused()
    {
        var error = Single(Valid + "health: { interval_secs: 1, timeout_secs: 1 }");

        Assert.Equal(("health.timeout_secs", "must be shorter than interval_secs (1 s)"), (error.Path, error.Message));
    }

    [Fact]
    public void Parse_DuplicateTuningInterface_IsRefused()
    {
        var error = Single(Valid + "tuning: [{ interface: eth0, mtu: 1500 }, { interface: eth0 }]");

        Assert.Equal(("tuning[1].interface", "interface 'eth0' is tuned twice"), (error.Path, error.Message));
    }

    [Fact]
    public void Parse_BadMemlock_IsRefused()
    {
        var error = Single(Valid + "memlock: lots");

        Assert.Equal(("memlock", "'lots' is neither \"unlimited\" nor a number of bytes"), (error.Path, error.Message));
    }

    [Fact]
    public void Parse_SeveralErrors_ReportsEveryOneInFileOrder()
    {
        var errors = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                workers: 0
                downstream: [{ name: a, address: "nowhere" }]
            metrics: { bind: "127.0.0.1" }
            bogus: 1
            """, File)).Errors;

        Assert.Equal(["listeners[0].workers", "listeners[0].downstream[0].address", "metrics.bind", "bogus"], errors.Select(e => e.Path));
        Assert.Equal($"{File}:4:14: listeners[0].workers: 0 is out of range (1..256)", errors[0].ToString());
    }

    private const string Valid = """
        listeners:
          - name: syslog
            bind: "0.0.0.0:5514"
            downstream: [{ name: a, address: "10.0.0.1:6000" }]

        """;

    private static ConfigError Single(string yaml) =>
        Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, File)).Errors);

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "UdpFanout.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("UdpFanout.sln not found above " + AppContext.BaseDirectory);
    }
}
