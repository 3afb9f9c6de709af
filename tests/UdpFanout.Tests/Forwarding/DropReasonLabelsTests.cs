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
        Assert.Equal("receive_buffer_full", DropReason.ReceiveBufferFull.MetricLabel());
        Assert.Equal("xsk_rx_ring_full", DropReason.XskRxRingFull.MetricLabel());
        Assert.Equal("xsk_rx_dropped", DropReason.XskRxDropped.MetricLabel());
        Assert.Equal("worker_failed", DropReason.WorkerFailed.MetricLabel());
        Assert.Equal(Enum.GetValues<DropReason>().Length, DropReasonLabels.Count);
    }
}
