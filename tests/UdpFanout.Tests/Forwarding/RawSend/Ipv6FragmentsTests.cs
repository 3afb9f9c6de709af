using System.Buffers.Binary;
using System.Net;
using UdpFanout.Forwarding.RawSend;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.RawSend;

public sealed class Ipv6FragmentsTests
{
    private static readonly byte[] Client = IPAddress.Parse("fd97:1::2").GetAddressBytes();
    private static readonly byte[] Downstream = IPAddress.Parse("fd97:11::2").GetAddressBytes();
    private static readonly ushort ClientPort = BinaryPrimitives.ReverseEndianness((ushort)40000);
    private static readonly ushort DownstreamPort = BinaryPrimitives.ReverseEndianness((ushort)6000);

    [Theory]
    [InlineData(4000, 1500, 3)]    // 4008 UDP bytes in 1448-byte pieces
    [InlineData(1453, 1500, 2)]    // one byte over an MTU-sized packet
    [InlineData(65487, 1500, 46)]
    [InlineData(65487, 1280, 54)]  // IPv6's smallest MTU: 1232 bytes per fragment
    [InlineData(2000, 600, 2)]     // below that is taken as 1280
    public void Count_PayloadAtMtu_FragmentsNeeded(int payload, int mtu, int count) =>
        Assert.Equal(count, Ipv6Fragments.Count(payload, mtu));

    [Theory]
    [InlineData(4000, 1500)]
    [InlineData(1453, 1500)]
    [InlineData(8000, 1400)]
    [InlineData(65487, 1500)]
    [InlineData(3001, 1280)]
    public void Write_EveryFragment_FitsTheMtuAndReassemblesToTheDatagramWithAValidChecksum(int length, int mtu)
    {
        var payload = NumberedPayload.Create(11, length);
        var udp = new byte[8];
        Ipv6UdpHeaders.WriteUdp(udp, Client, ClientPort, Downstream, DownstreamPort, payload);
        var count = Ipv6Fragments.Count(length, mtu);
        var reassembled = new byte[8 + length];
        var covered = 0;

        for (var i = 0; i < count; i++)
        {
            var header = new byte[64];
            var (headerLength, start, pieceLength) = Ipv6Fragments.Write(header, i, length, mtu, Client, Downstream, 0xCAFE0001, udp);
            byte[] packet = [.. header[..headerLength], .. payload.AsSpan(start, pieceLength)];

            Assert.True(packet.Length <= mtu, $"fragment {i}: {packet.Length} bytes over the MTU");
            Assert.Equal((0x60, 44, 64), (packet[0] & 0xF0, packet[6], packet[7]));
            Assert.Equal(packet.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(4)));
            Assert.Equal(Client, packet[8..24]);
            Assert.Equal(Downstream, packet[24..40]);
            Assert.Equal(17, packet[40]);
            Assert.Equal(0xCAFE0001u, BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(44)));
            var offsetAndMore = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(42));
            var offset = offsetAndMore & 0xFFF8;
            var more = (offsetAndMore & 1) == 1;
            var piece = packet.AsSpan(48);
            Assert.Equal(covered, offset);
            Assert.Equal(i < count - 1, more);
            if (more)
            {
                Assert.Equal(0, piece.Length % 8);
            }
            piece.CopyTo(reassembled.AsSpan(offset));
            covered += piece.Length;
        }

        Assert.Equal(8 + length, covered);
        Assert.Equal(payload, reassembled[8..]);
        Assert.True(Ipv6UdpHeadersTests.Valid(Client, Downstream, reassembled));
    }
}
