using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

public sealed class DottedQuadTests
{
    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("255.255.255.255")]
    [InlineData("192.168.100.10")]
    public void IsDottedQuad_FourDecimalOctets_IsAccepted(string text) => Assert.True(DottedQuad.IsDottedQuad(text));

    [Theory]
    [InlineData("2130706433")]
    [InlineData("127.1")]
    [InlineData("127.0.1")]
    [InlineData("010.0.0.1")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("10.0.0.256")]
    [InlineData("10.0.0.1.5")]
    [InlineData("10..0.1")]
    [InlineData("10.0.0.")]
    [InlineData("+10.0.0.1")]
    [InlineData("10.0.0.0001")]
    public void IsDottedQuad_OtherSpellings_AreRefused(string text) => Assert.False(DottedQuad.IsDottedQuad(text));

    [Theory]
    [InlineData("2130706433:25514", "127.0.0.1:25514")]
    [InlineData("127.1:25514", "127.0.0.1:25514")]
    [InlineData("010.0.0.1:5514", "8.0.0.1:5514")]
    [InlineData("0x7f.0.0.1:5514", "127.0.0.1:5514")]
    public void Parse_AnAddressNotWrittenAsFourDecimalOctets_SaysWhatItWouldReadAs(string address, string readAs)
    {
        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Parse($"""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream:
                  - name: a
                    address: "{address}"
            """, "/etc/udp-fanout/config.yaml")).Errors);

        Assert.Equal(
            (6, 18, "listeners[0].downstream[0].address",
                $"'{address}' is not four decimal octets: it would read as {readAs} (a number, fewer than four parts, a leading 0 (octal) or 0x (hex) rarely mean what they seem); write the address as \"{readAs}\" if that is the one meant"),
            (error.Line, error.Column, error.Path, error.Message));
    }

    [Fact]
    public void Parse_BindWrittenAsANumber_IsRefusedToo()
    {
        var error = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "2130706433:5514"
                downstream: [{ name: a, address: "10.0.0.1:6000" }]
            """, "/etc/udp-fanout/config.yaml")).Errors);

        Assert.Equal(("listeners[0].bind", "'2130706433:5514' is not four decimal octets: it would read as 127.0.0.1:5514 (a number, fewer than four parts, a leading 0 (octal) or 0x (hex) rarely mean what they seem); write the address as \"127.0.0.1:5514\" if that is the one meant"),
            (error.Path, error.Message));
    }
}
