using System.Buffers.Binary;
using System.Net;
using UdpFanout.Forwarding.RawSend;
using UdpFanout.Tests.Testing;
using static Interop.Libc;

namespace UdpFanout.Tests.Forwarding.RawSend;

public sealed class Ipv4FragmentsTests
{
    private static readonly sockaddr_in Client = sockaddr_in.From(IPEndPoint.Parse("10.192.1.2:40000"));
    private static readonly sockaddr_in Downstream = sockaddr_in.From(IPEndPoint.Parse("10.192.11.2:6000"));

    [Theory]
    [InlineData(4000, 1500, 3)]    // 4008 UDP bytes in 1480-byte pieces
    [InlineData(1472, 1500, 1)]    // exactly an MTU-sized packet
    [InlineData(1473, 1500, 2)]
    [InlineData(65507, 1500, 45)]
    [InlineData(65507, 68, 1365)]  // IPv4's smallest MTU: 48 bytes per fragment
    [InlineData(100, 20, 3)]       // below that is taken as 68
    public void Count_PayloadAtMtu_FragmentsNeeded(int payload, int mtu, int count) =>
        Assert.Equal(count, Ipv4Fragments.Count(payload, mtu));

    [Theory]
    [InlineData(4000, 1500)]
    [InlineData(1473, 1500)]
    [InlineData(8000, 1400)]
    [InlineData(65507, 1500)]
    [InlineData(3001, 576)]
    [InlineData(999, 68)]
    public void Write_EveryFragment_FitsTheMtuAndReassemblesToTheDatagramWithValidChecksums(int length, int mtu)
    {
        var payload = NumberedPayload.Create(11, length);
        var udp = new byte[8];
        Ipv4UdpHeaders.WriteUdp(udp, Client.sin_addr, Client.sin_port, Downstream.sin_addr, Downstream.sin_port, payload);
        var count = Ipv4Fragments.Count(length, mtu);
        var reassembled = new byte[8 + length];
        var covered = 0;

        for (var i = 0; i < count; i++)
        {
            var header = new byte[32];
            var (headerLength, start, part) = Ipv4Fragments.Write(header, i, length, mtu, Client.sin_addr, Downstream.sin_addr, 0xBEEF, udp);
            var fragment = header[..headerLength].Concat(payload.Skip(start).Take(part)).ToArray();

            Assert.True(fragment.Length <= Math.Max(mtu, Ipv4Fragments.MinimumMtu), $"fragment {i} is {fragment.Length} bytes, over MTU {mtu}");
            Assert.True(ReferenceChecksum.Ipv4HeaderValid(fragment), $"fragment {i}: bad IP header checksum");
            Assert.Equal(fragment.Length, BinaryPrimitives.ReadUInt16BigEndian(fragment.AsSpan(2)));
            Assert.Equal(0xBEEF, BinaryPrimitives.ReadUInt16BigEndian(fragment.AsSpan(4)));
            var flags = BinaryPrimitives.ReadUInt16BigEndian(fragment.AsSpan(6));
            Assert.Equal(i < count - 1, (flags & 0x2000) != 0);
            Assert.Equal(0, flags & 0x4000);
            var offset = (flags & 0x1FFF) * 8;
            Assert.Equal(covered, offset);
            if (i < count - 1)
            {
                Assert.Equal(0, (fragment.Length - 20) % 8);
            }
            fragment.AsSpan(20).CopyTo(reassembled.AsSpan(offset));
            covered += fragment.Length - 20;
        }

        Assert.Equal(8 + length, covered);
        Assert.Equal(udp, reassembled[..8]);
        Assert.Equal(payload, reassembled[8..]);
        Assert.True(ReferenceChecksum.UdpValid(BitConverter.GetBytes(Client.sin_addr), BitConverter.GetBytes(Downstream.sin_addr), reassembled));
    }
}
