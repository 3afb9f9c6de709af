using System.Buffers.Binary;
using System.Net;
using UdpFanout.Forwarding.RawSend;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.RawSend;

public sealed class Ipv6UdpHeadersTests
{
    private static readonly byte[] Client = IPAddress.Parse("fd97:1::2").GetAddressBytes();
    private static readonly byte[] Downstream = IPAddress.Parse("fd97:11::2").GetAddressBytes();
    private static readonly ushort ClientPort = BinaryPrimitives.ReverseEndianness((ushort)40000);
    private static readonly ushort DownstreamPort = BinaryPrimitives.ReverseEndianness((ushort)6000);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1452)]
    [InlineData(65487)]
    public void WriteUdp_AnyLength_ChecksumAgreesWithTheReferenceOverThePseudoHeader(int length)
    {
        var payload = NumberedPayload.Create(3, Math.Max(length, 8))[..length];
        var udp = new byte[8];

        Ipv6UdpHeaders.WriteUdp(udp, Client, ClientPort, Downstream, DownstreamPort, payload);

        Assert.Equal((40000, 6000, 8 + length), (BinaryPrimitives.ReadUInt16BigEndian(udp), BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(2)), BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(4))));
        Assert.True(Valid(Client, Downstream, [.. udp, .. payload]));
    }

    [Fact]
    public void WriteUdp_SumComesOutZero_SentAsAllOnes()
    {
        // A payload chosen so that the checksum folds to 0: the two bytes at its end are the complement of the rest.
        var payload = new byte[2];
        var udp = new byte[8];
        Ipv6UdpHeaders.WriteUdp(udp, Client, ClientPort, Downstream, DownstreamPort, payload);
        BinaryPrimitives.WriteUInt16BigEndian(payload, BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(6)));

        Ipv6UdpHeaders.WriteUdp(udp, Client, ClientPort, Downstream, DownstreamPort, payload);

        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(6)));
        Assert.True(Valid(Client, Downstream, [.. udp, .. payload]));
    }

    [Fact]
    public void WriteIpv6_Header_VersionLengthNextHeaderHopLimitAndAddresses()
    {
        var ip = new byte[40];

        Ipv6UdpHeaders.WriteIpv6(ip, Client, Downstream, 1008, Ipv6UdpHeaders.NextHeaderUdp);

        Assert.Equal(0x60000000u, BinaryPrimitives.ReadUInt32BigEndian(ip));
        Assert.Equal((1008, 17, 64), (BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(4)), ip[6], ip[7]));
        Assert.Equal(Client, ip[8..24]);
        Assert.Equal(Downstream, ip[24..40]);
    }

    [Fact]
    public void WriteFragment_OffsetMoreAndIdentification_AsRfc8200Lays()
    {
        var fragment = new byte[8];

        Ipv6UdpHeaders.WriteFragment(fragment, 1232, true, 0xA1B2C3D4);

        Assert.Equal(new byte[] { 17, 0, 0x04, 0xD1, 0xA1, 0xB2, 0xC3, 0xD4 }, fragment);
    }

    /// <summary>The check a receiving kernel makes: the sum over the pseudo-header and the whole datagram is 0 (the reference, word by word).</summary>
    internal static bool Valid(byte[] source, byte[] destination, byte[] udp)
    {
        byte[] pseudo = [.. source, .. destination, 0, 0, (byte)(udp.Length >> 8), (byte)udp.Length, 0, 0, 0, 17];
        return BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(6)) != 0 && ReferenceChecksum.Of([.. pseudo, .. udp]) == 0;
    }
}
