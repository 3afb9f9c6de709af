using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Model;

public sealed class InternetChecksumTests
{
    [Theory]
    [InlineData(new byte[] { 0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01 }, 0xe5ca)]
    [InlineData(new byte[] { 0x00, 0x01, 0xf2 }, 0x0dfe)]
    // RFC 1071 section 3's example words 0001 f203 f4f5 f6f7: sum ddf2, checksum 220d.
    [InlineData(new byte[] { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 }, 0x220d)]
    [InlineData(new byte[] { }, 0xffff)]
    public void Of_KnownInputs_MatchesRfc1071(byte[] bytes, int expected) =>
        Assert.Equal((ushort)expected, InternetChecksum.Of(bytes));

    [Fact]
    public void Of_RandomBytesOfEveryLengthUpTo300_MatchesTheWordByWordReference()
    {
        var random = new Random(1071);
        for (var length = 0; length <= 300; length++)
        {
            for (var round = 0; round < 20; round++)
            {
                var bytes = new byte[length];
                random.NextBytes(bytes);
                if (round == 0)
                {
                    // All ones: the sums that carry the most.
                    Array.Fill(bytes, (byte)0xFF);
                }
                Assert.Equal(ReferenceChecksum.Of(bytes), InternetChecksum.Of(bytes));
            }
        }
    }

    [Fact]
    public void Add_PartsOfEvenLength_SameAsTheWhole()
    {
        var bytes = new byte[1001];
        new Random(7).NextBytes(bytes);

        var parts = InternetChecksum.Add(InternetChecksum.Add(InternetChecksum.Add(0, bytes.AsSpan(0, 12)), bytes.AsSpan(12, 8)), bytes.AsSpan(20));

        Assert.Equal(ReferenceChecksum.Of(bytes), InternetChecksum.Finish(parts));
    }
}
