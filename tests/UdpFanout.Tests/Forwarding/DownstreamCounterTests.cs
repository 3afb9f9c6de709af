using UdpFanout.Forwarding;

namespace UdpFanout.Tests.Forwarding;

public sealed class DownstreamCounterTests
{
    [Fact]
    public void AddIcmpError_EveryType_CountsOnItsOwn()
    {
        var counter = new DownstreamCounter();
        var types = Enum.GetValues<IcmpError>();
        for (var i = 0; i < types.Length; i++)
        {
            for (var n = 0; n <= i; n++)
            {
                counter.AddIcmpError(types[i]);
            }
        }

        Assert.Equal(types.Select((_, i) => i + 1L), types.Select(counter.IcmpErrorsOf));
    }

    [Fact]
    public void Add_TwoBatches_AddUp()
    {
        var counter = new DownstreamCounter();

        counter.Add(2, 200);
        counter.Add(3, 300);

        Assert.Equal((5L, 500L), (counter.Packets, counter.Bytes));
    }
}
