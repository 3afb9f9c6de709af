using System.Buffers.Binary;
using System.Net;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp;

public sealed class FrameParserTests
{
    private static readonly byte[] Valid = new Ipv4UdpFrame { Destination = IPAddress.Parse("10.0.0.1"), Payload = [1, 2, 3, 4, 5] }.Build();

    [Fact]
    public void TryParse_ValidFrame_FindsThePayload()
    {
        Assert.Equal(FrameError.None, FrameParser.TryParse(Valid, out var offset, out var length));
        Assert.Equal((42, 5), (offset, length));
    }

    [Fact]
    public void TryParse_VlanTaggedFrameWithOptionsAndPadding_FindsThePayload()
    {
        var frame = new Ipv4UdpFrame { VlanId = 7, IpOptions = [1, 1, 1, 0], Payload = [9, 9] }.Build();
        var padded = frame.Concat(new byte[20]).ToArray();

        Assert.Equal(FrameError.None, FrameParser.TryParse(padded, out var offset, out var length));
        Assert.Equal((18 + 24 + 8, 2), (offset, length));
    }

    [Theory]
    [InlineData("truncated Ethernet", 10, -1, 0, (int)FrameError.TruncatedEthernet)]
    [InlineData("truncated IPv4 header", 14 + 12, -1, 0, (int)FrameError.TruncatedIpv4)]
    [InlineData("IHL below 5", 0, 14, 0x44, (int)FrameError.BadIhl)]
    [InlineData("IHL beyond the frame", 0, 14, 0x4F, (int)FrameError.BadIhl)]
    [InlineData("total length beyond the frame", 0, 16, 0xFF, (int)FrameError.BadTotalLength)]
    [InlineData("not UDP", 0, 23, 6, (int)FrameError.NotUdp)]
    [InlineData("a fragment", 0, 20, 0x20, (int)FrameError.Fragment)]
    [InlineData("UDP length mismatch", 0, 38, 0x7F, (int)FrameError.BadUdpLength)]
    public void TryParse_MalformedFrame_SaysWhy(string description, int truncateTo, int patchAt, int patchValue, int expected)
    {
        var frame = (byte[])Valid.Clone();
        if (patchAt >= 0)
        {
            frame[patchAt] = (byte)patchValue;
        }
        if (truncateTo > 0)
        {
            frame = frame[..truncateTo];
        }

        Assert.True((FrameError)expected == FrameParser.TryParse(frame, out _, out _), description);
    }

    [Fact]
    public void TryParse_OneMillionMutatedFrames_NeverThrowsAndNeverPointsOutsideTheFrame()
    {
        var random = new Random(20261124);
        var buffer = new byte[128];
        var accepted = 0;
        for (var i = 0; i < 1_000_000; i++)
        {
            var length = random.Next(0, 80);
            Valid.AsSpan(0, Math.Min(length, Valid.Length)).CopyTo(buffer);
            random.NextBytes(buffer.AsSpan(Valid.Length, Math.Max(0, length - Valid.Length)));
            for (var flips = random.Next(0, 4); flips > 0 && length > 0; flips--)
            {
                buffer[random.Next(length)] = (byte)random.Next(256);
            }
            var frame = buffer.AsSpan(0, length);

            if (FrameParser.TryParse(frame, out var offset, out var payload) == FrameError.None)
            {
                accepted++;
                Assert.InRange(offset, 42, length);
                Assert.InRange(payload, 0, length - offset);
                Assert.Equal(payload + 8, BinaryPrimitives.ReadUInt16BigEndian(frame[(offset - 4)..]));
            }
        }
        Assert.True(accepted > 1000, $"only {accepted} of the mutated frames parsed: the mutations are too wild to test acceptance");
    }
}
