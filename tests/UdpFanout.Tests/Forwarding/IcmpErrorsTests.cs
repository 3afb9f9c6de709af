using UdpFanout.Forwarding;

namespace UdpFanout.Tests.Forwarding;

public sealed class IcmpErrorsTests
{
    [Theory]
    [InlineData(3, 3, "port_unreachable")]
    [InlineData(3, 1, "host_unreachable")]
    [InlineData(3, 0, "net_unreachable")]
    [InlineData(3, 2, "protocol_unreachable")]
    [InlineData(3, 4, "fragmentation_needed")]
    [InlineData(3, 13, "administratively_prohibited")]
    [InlineData(3, 10, "administratively_prohibited")]
    [InlineData(11, 0, "time_exceeded")]
    [InlineData(12, 0, "other")]
    public void Classify_IcmpTypeAndCode_GivesTheTypeLabelOfTheMetric(byte type, byte code, string label)
    {
        Assert.Equal(label, IcmpErrors.Classify(type, code).MetricLabel());
    }

    [Theory]
    [InlineData(1, 4, "port_unreachable")]
    [InlineData(1, 3, "host_unreachable")]
    [InlineData(1, 0, "net_unreachable")]
    [InlineData(1, 1, "administratively_prohibited")]
    [InlineData(1, 6, "administratively_prohibited")]
    [InlineData(2, 0, "fragmentation_needed")]
    [InlineData(3, 0, "time_exceeded")]
    [InlineData(4, 1, "protocol_unreachable")]
    [InlineData(4, 0, "other")]
    [InlineData(128, 0, "other")]
    public void Classify6_Icmpv6TypeAndCode_GivesTheSameLabelsAsIcmpv4(byte type, byte code, string label)
    {
        Assert.Equal(label, IcmpErrors.Classify6(type, code).MetricLabel());
    }
}
