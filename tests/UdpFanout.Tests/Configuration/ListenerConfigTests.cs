using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

public sealed class ListenerConfigTests
{
    private static readonly ListenerConfig Listener = new()
    {
        Name = "syslog",
        Bind = IPEndPoint.Parse("0.0.0.0:5514"),
        Downstreams = new([new DownstreamConfig("a", IPEndPoint.Parse("10.0.0.1:6000"))]),
        Cpus = new([0, 1]),
    };

    [Fact]
    public void NeedsRestartFor_DownstreamChangeOnly_IsFalse() =>
        Assert.False(Listener.NeedsRestartFor(Listener with { Downstreams = new([new DownstreamConfig("b", IPEndPoint.Parse("10.0.0.2:6000"))]) }));

    [Fact]
    public void NeedsRestartFor_AnEqualCopy_IsFalse() =>
        Assert.False(Listener.NeedsRestartFor(Listener with { Cpus = new([0, 1]) }));

    [Fact]
    public void NeedsRestartFor_BindModeOrDataPathSettings_IsTrue()
    {
        Assert.True(Listener.NeedsRestartFor(Listener with { Bind = IPEndPoint.Parse("0.0.0.0:5515") }));
        Assert.True(Listener.NeedsRestartFor(Listener with { Mode = ForwardingMode.TcEbpf, Interface = "eth0" }));
        Assert.True(Listener.NeedsRestartFor(Listener with { Workers = 4 }));
        Assert.True(Listener.NeedsRestartFor(Listener with { Cpus = new([1]) }));
    }
}
