using UdpFanout.Forwarding;

namespace UdpFanout.Tests.Forwarding;

public sealed class DropReasonLabelsTests
{
    [Fact]
    public void MetricLabel_IsTheSnakeCaseNameUsersSeeInMetrics()
    {
        Assert.Equal("send_buffer_full", DropReason.SendBufferFull.MetricLabel());
        Assert.Equal("no_healthy_downstream", DropReason.NoHealthyDownstream.MetricLabel());
        Assert.Equal("truncated", DropReason.Truncated.MetricLabel());
        Assert.Equal(Enum.GetValues<DropReason>().Length, DropReasonLabels.Count);
    }
}
