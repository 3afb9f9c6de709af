using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using UdpFanout.Forwarding.RawSend;
using UdpFanout.Tests.Testing;
using static Interop.Libc;

namespace UdpFanout.Tests.Forwarding.RawSend;

public sealed class Ipv4UdpHeadersTests
{
    private static readonly sockaddr_in Client = sockaddr_in.From(IPEndPoint.Parse("10.192.1.2:40000"));
    private static readonly sockaddr_in Downstream = sockaddr_in.From(IPEndPoint.Parse("10.192.11.2:6000"));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(1472)]
    [InlineData(65507)]
    public void Write_Payload_HeadersAReceiverAcceptsWithTheClientsSourceAndTheDownstreamsDestination(int length)
    {
        var payload = NumberedPayload.Create(3, Math.Max(length, 8))[..length];
        var packet = new byte[Ipv4UdpHeaders.Length + length];

        Ipv4UdpHeaders.WriteIpv4(packet, Client.sin_addr, Downstream.sin_addr, 0x1234, packet.Length, 0, false);
        Ipv4UdpHeaders.WriteUdp(packet.AsSpan(20), Client.sin_addr, Client.sin_port, Downstream.sin_addr, Downstream.sin_port, payload);
        payload.CopyTo(packet.AsSpan(28));

        Assert.Equal((0x45, 64, 17), (packet[0], packet[8], packet[9]));
        Assert.Equal(packet.Length, BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(2)));
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(4)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(6)));
        Assert.Equal("10.192.1.2", new IPAddress(packet.AsSpan(12, 4)).ToString());
        Assert.Equal("10.192.11.2", new IPAddress(packet.AsSpan(16, 4)).ToString());
        Assert.Equal((40000, 6000), (BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(20)), BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(22))));
        Assert.Equal(8 + length, BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(24)));
        Assert.True(ReferenceChecksum.Ipv4HeaderValid(packet));
        Assert.True(ReferenceChecksum.UdpValid(packet.AsSpan(12, 4), packet.AsSpan(16, 4), packet.AsSpan(20)));
    }

    [Fact]
    public void WriteUdp_ChecksumThatComesOutZero_SentAsAllOnes()
    {
        // Two payload bytes chosen so the sum is all ones: found by trying, then fixed here.
        var payload = new byte[2];
        var udp = new byte[8];
        for (var value = 0; value <= 0xFFFF; value++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)value);
            Ipv4UdpHeaders.WriteUdp(udp, Client.sin_addr, Client.sin_port, Downstream.sin_addr, Downstream.sin_port, payload);
            var whole = udp.Concat(payload).ToArray();
            if (ReferenceUdpChecksumIsZero(whole))
            {
                Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(6)));
                Assert.True(ReferenceChecksum.UdpValid(MemoryMarshal.AsBytes([Client.sin_addr]), MemoryMarshal.AsBytes([Downstream.sin_addr]), whole));
                return;
            }
        }
        Assert.Fail("no two-byte payload gives a zero checksum");
    }

    /// <summary>True when the checksum computed with the field zeroed is 0, the one case RFC 768 sends as 0xFFFF.</summary>
    private static bool ReferenceUdpChecksumIsZero(byte[] udp)
    {
        var copy = (byte[])udp.Clone();
        copy[6] = 0;
        copy[7] = 0;
        var pseudo = new byte[12 + copy.Length];
        MemoryMarshal.Write(pseudo, Client.sin_addr);
        MemoryMarshal.Write(pseudo.AsSpan(4), Downstream.sin_addr);
        pseudo[9] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), (ushort)copy.Length);
        copy.CopyTo(pseudo, 12);
        return ReferenceChecksum.Of(pseudo) == 0;
    }
}
