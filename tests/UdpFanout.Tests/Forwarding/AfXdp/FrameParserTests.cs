using System.Buffers.Binary;
using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
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

    private static readonly Ipv6UdpFrame ValidIpv6Frame = new() { Destination = IPAddress.Parse("fd91:1::1"), Payload = [1, 2, 3, 4, 5] };
    private static readonly byte[] ValidIpv6 = ValidIpv6Frame.Build();

    [Fact]
    public void TryParse_ValidIpv6Frame_FindsThePayloadKeysTheSourceAndGivesTheClient()
    {
        Assert.Equal(FrameError.None, FrameParser.TryParse(ValidIpv6, HashKey.SourceIpPort, out var offset, out var length, out var source, out var client));

        Assert.Equal((14 + 40 + 8, 5), (offset, length));
        Assert.Equal(SourceHash.Key(new IPEndPoint(ValidIpv6Frame.Source, ValidIpv6Frame.SourcePort), HashKey.SourceIpPort), source);
        Assert.Equal(new IPEndPoint(ValidIpv6Frame.Source, ValidIpv6Frame.SourcePort), client.ToEndPoint());
    }

    [Fact]
    public void TryParse_ValidIpv4FrameUnderSourceIp_GivesTheClientsAddressAndPortTheKeyLeavesOut()
    {
        var frame = new Ipv4UdpFrame { Source = IPAddress.Parse("10.1.2.3"), SourcePort = 40001, Destination = IPAddress.Parse("10.0.0.1"), Payload = [1] };

        Assert.Equal(FrameError.None, FrameParser.TryParse(frame.Build(), HashKey.SourceIp, out _, out _, out _, out var client));

        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 40001), client.ToEndPoint());
    }

    [Fact]
    public void TryParse_VlanTaggedIpv6FrameWithPadding_FindsThePayload()
    {
        var frame = (ValidIpv6Frame with { VlanId = 7, Payload = [9, 9] }).Build();
        var padded = frame.Concat(new byte[20]).ToArray();

        Assert.Equal(FrameError.None, FrameParser.TryParse(padded, out var offset, out var length));
        Assert.Equal((18 + 40 + 8, 2), (offset, length));
    }

    public static TheoryData<string, byte[], int> MalformedIpv6()
    {
        byte[] Patched(int at, byte value)
        {
            var frame = (byte[])ValidIpv6.Clone();
            frame[at] = value;
            return frame;
        }
        return new()
        {
            { "truncated IPv6 header", ValidIpv6[..(14 + 39)], (int)FrameError.TruncatedIpv6 },
            { "version 4 behind the IPv6 EtherType", Patched(14, 0x40), (int)FrameError.BadVersion },
            { "payload length beyond the frame", Patched(14 + 5, 14), (int)FrameError.BadPayloadLength },
            { "payload length shorter than the UDP header", Patched(14 + 5, 4), (int)FrameError.TruncatedUdp },
            { "cut inside the UDP header", ValidIpv6[..(14 + 40 + 6)], (int)FrameError.BadPayloadLength },
            { "UDP length mismatch", Patched(14 + 40 + 5, 0x7F), (int)FrameError.BadUdpLength },
            { "zero UDP checksum", (ValidIpv6Frame with { ZeroUdpChecksum = true }).Build(), (int)FrameError.ZeroUdpChecksum },
            { "a fragment header", (ValidIpv6Frame with { ExtensionHeaders = [Ipv6UdpFrame.Fragment], MoreFragments = true }).Build(), (int)FrameError.Fragment },
            { "destination options", (ValidIpv6Frame with { ExtensionHeaders = [Ipv6UdpFrame.DestinationOptions] }).Build(), (int)FrameError.ExtensionHeader },
            { "hop-by-hop options", (ValidIpv6Frame with { ExtensionHeaders = [Ipv6UdpFrame.HopByHop] }).Build(), (int)FrameError.ExtensionHeader },
            { "ICMPv6", Patched(14 + 6, 58), (int)FrameError.NotUdp },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedIpv6))]
    public void TryParse_MalformedIpv6Frame_SaysWhy(string description, byte[] frame, int expected)
    {
        Assert.True((FrameError)expected == FrameParser.TryParse(frame, out _, out _), description);
    }

    /// <summary>Mutations of a valid IPv4 and a valid IPv6 frame in turn: lengths cut, bytes flipped, random tails.</summary>
    [Fact]
    public void TryParse_OneMillionMutatedFrames_NeverThrowsAndNeverPointsOutsideTheFrame()
    {
        var random = new Random(20261124);
        var buffer = new byte[128];
        var accepted = new int[2];
        for (var i = 0; i < 1_000_000; i++)
        {
            var valid = i % 2 == 0 ? Valid : ValidIpv6;
            var length = random.Next(0, valid.Length + 38);
            valid.AsSpan(0, Math.Min(length, valid.Length)).CopyTo(buffer);
            random.NextBytes(buffer.AsSpan(valid.Length, Math.Max(0, length - valid.Length)));
            for (var flips = random.Next(0, 4); flips > 0 && length > 0; flips--)
            {
                buffer[random.Next(length)] = (byte)random.Next(256);
            }
            var frame = buffer.AsSpan(0, length);

            if (FrameParser.TryParse(frame, out var offset, out var payload) == FrameError.None)
            {
                accepted[i % 2]++;
                Assert.InRange(offset, 42, length);
                Assert.InRange(payload, 0, length - offset);
                Assert.Equal(payload + 8, BinaryPrimitives.ReadUInt16BigEndian(frame[(offset - 4)..]));
            }
        }
        Assert.True(accepted.Min() > 1000, $"only {accepted[0]} IPv4 and {accepted[1]} IPv6 mutated frames parsed: the mutations are too wild to test acceptance");
    }
}
