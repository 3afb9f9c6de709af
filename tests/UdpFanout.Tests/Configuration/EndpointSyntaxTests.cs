using System.Net;
using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Tests.Configuration;

public sealed class EndpointSyntaxTests
{
    private const string File = "/etc/udp-fanout/config.yaml";

    [Theory]
    [InlineData("10.0.0.1:5514")]
    [InlineData("[::]:5514")]
    [InlineData("[2001:db8::1]:5514")]
    [InlineData("[fd00::12]:65535")]
    public void Refusal_WellFormed_Accepted(string text)
    {
        Assert.Null(EndpointSyntax.Refusal(text, out var endpoint));
        Assert.Equal(IPEndPoint.Parse(text), endpoint);
    }

    [Theory]
    [InlineData("fd00::1:5514", "'fd00::1:5514' is an IPv6 address without brackets, which is ambiguous (is the last group the port?): write the address in brackets before the port, such as \"[fd00::1:5514]:5514\"")]
    [InlineData("::1", "'::1' is an IPv6 address without brackets, which is ambiguous (is the last group the port?): write the address in brackets before the port, such as \"[::1]:5514\"")]
    [InlineData("[fd00::1]", "'[fd00::1]' is not an address:port such as \"[fd00::12]:5514\"")]
    [InlineData("[fd00::1]:", "'[fd00::1]:' is not an address:port such as \"[fd00::12]:5514\"")]
    [InlineData("[fd00::zz]:5514", "'[fd00::zz]:5514' is not an address:port such as \"[fd00::12]:5514\"")]
    [InlineData("[fd00::1]:70000", "port 70000 is out of range (1..65535)")]
    [InlineData("[fd00::1]:0", "'[fd00::1]:0' has port 0; give a port between 1 and 65535")]
    [InlineData("[fe80::1%eth0]:5514", "'[fe80::1%eth0]:5514' has a scope id ('%' and an interface); the config takes none: give a global or unique local (fd00::/8) address")]
    [InlineData("[fe80::1]:5514", "'[fe80::1]:5514' is a link-local address, which means something only together with an interface (a scope id), and the config takes none: give a global or unique local (fd00::/8) address")]
    [InlineData("[::ffff:10.0.0.1]:5514", "'[::ffff:10.0.0.1]:5514' is an IPv4-mapped IPv6 address; write the IPv4 address as such: \"10.0.0.1:5514\"")]
    public void Refusal_Malformed_SaysWhatIsWrong(string text, string message)
    {
        Assert.Equal(message, EndpointSyntax.Refusal(text, out var endpoint));
        Assert.Null(endpoint);
    }

    [Fact]
    public void Parse_Ipv6BindAndMixedFamilyDownstreams_Accepted()
    {
        var listener = ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "[::]:5514"
                downstream:
                  - { name: a, address: "[fd00::12]:5514" }
                  - { name: b, address: "10.0.0.2:5514" }
              - name: other
                bind: "[2001:db8::1]:5515"
                downstream: [{ name: a, address: "[2001:db8::2]:5514" }]
            """, File).Listeners;

        Assert.Equal(IPEndPoint.Parse("[::]:5514"), listener[0].Bind);
        Assert.Equal([IPEndPoint.Parse("[fd00::12]:5514"), IPEndPoint.Parse("10.0.0.2:5514")], listener[0].Downstreams.Select(d => d.Address));
        Assert.Equal(IPEndPoint.Parse("[2001:db8::1]:5515"), listener[1].Bind);
    }

    [Fact]
    public void Parse_ScopeIdInBind_NamesFileLineAndField()
    {
        var error = Single("""
            listeners:
              - name: syslog
                bind: "[fe80::1%eth0]:5514"
                downstream: [{ name: a, address: "[fd00::12]:5514" }]
            """);

        Assert.Equal($"{File}:3:11: listeners[0].bind: '[fe80::1%eth0]:5514' has a scope id ('%' and an interface); the config takes none: give a global or unique local (fd00::/8) address", error.ToString());
    }

    /// <summary>Both eBPF modes serve IPv6 and mixed families (their programs parse both; tc_ebpf forwards each family to its own).</summary>
    [Theory]
    [InlineData("tc_ebpf")]
    [InlineData("af_xdp")]
    public void Parse_Ipv6AndMixedFamiliesInAnEbpfMode_Accepted(string mode)
    {
        var listener = ConfigLoader.Parse($"""
            listeners:
              - name: syslog
                bind: "[::]:5514"
                mode: {mode}
                interface: eth0
                downstream:
                  - {"{"} name: a, address: "[fd00::12]:5514" {"}"}
                  - {"{"} name: b, address: "10.0.0.1:6000" {"}"}
            """, File).Listeners[0];

        Assert.Equal((IPEndPoint.Parse("[::]:5514"), mode), (listener.Bind, listener.Mode.YamlName()));
        Assert.Equal([IPEndPoint.Parse("[fd00::12]:5514"), IPEndPoint.Parse("10.0.0.1:6000")], listener.Downstreams.Select(d => d.Address));
    }

    [Theory]
    [InlineData("[::]:5514", 65527, null)]
    [InlineData("0.0.0.0:5514", 65527, "65527 is out of range (1..65507)")]
    [InlineData("0.0.0.0:5514", 65507, null)]
    public void Parse_MaxPacketSize_UpToWhatTheBindsFamilyCarries(string bind, int size, string? error)
    {
        var yaml = $"""
            listeners:
              - name: syslog
                bind: "{bind}"
                max_packet_size: {size}
                downstream: [{"{"} name: a, address: "[fd00::12]:5514" {"}"}]
            """;

        if (error is null)
        {
            Assert.Equal(size, ConfigLoader.Parse(yaml, File).Listeners[0].MaxPacketSize);
        }
        else
        {
            Assert.Equal(("listeners[0].max_packet_size", error), (Single(yaml).Path, Single(yaml).Message));
        }
    }

    private static ConfigError Single(string yaml) =>
        Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, File)).Errors);
}
