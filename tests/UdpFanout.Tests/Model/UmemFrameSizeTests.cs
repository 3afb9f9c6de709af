using UdpFanout.Model;

namespace UdpFanout.Tests.Model;

public sealed class UmemFrameSizeTests
{
    [Theory]
    [InlineData(1500, 2048)]
    [InlineData(1774, 2048)] // 1774 + 18 link-header bytes + 256 headroom = 2048
    [InlineData(1775, 4096)]
    [InlineData(3498, 4096)]
    [InlineData(3822, 4096)] // 3822 + 18 + 256 = 4096
    public void For_Mtu_TheSmallestFrameThatHoldsAWholeFrame(int mtu, int frameSize) =>
        Assert.Equal(frameSize, UmemFrameSize.For(mtu));

    [Theory]
    [InlineData(3823)]
    [InlineData(9000)]
    public void For_MtuBeyondAPage_None(int mtu) => Assert.Null(UmemFrameSize.For(mtu));
}
