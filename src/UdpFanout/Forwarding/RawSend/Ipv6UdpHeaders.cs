using System.Buffers.Binary;
using System.Runtime.InteropServices;
using UdpFanout.Model;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// Writes the IPv6, fragment and UDP headers of a datagram sent on an IPv6 raw socket with the client's source
/// address and port. Addresses are the 16 bytes of a <c>sockaddr_in6</c> and ports in network byte order, copied,
/// never converted. Unlike IPv4, the kernel completes nothing in a header-included IPv6 packet, and IPv6 requires
/// the UDP checksum (RFC 8200 section 8.1), so everything is written here.
/// </summary>
internal static class Ipv6UdpHeaders
{
    public const int Ipv6Length = 40;
    public const int FragmentLength = 8;
    public const int UdpLength = 8;
    /// <summary>Both headers of an unfragmented datagram, which go out as one iovec ahead of the payload.</summary>
    public const int Length = Ipv6Length + UdpLength;

    public const byte NextHeaderUdp = 17;
    public const byte NextHeaderFragment = 44;
    private const byte HopLimit = 64;

    /// <summary>
    /// The UDP header of <paramref name="payload"/>, its checksum over the IPv6 pseudo-header (RFC 8200 section
    /// 8.1: addresses, upper-layer length, next header 17), the header and the whole payload. A checksum that comes
    /// out 0 is sent as 0xFFFF: 0 means "none", which IPv6 receivers drop.
    /// </summary>
    public static void WriteUdp(Span<byte> udp, ReadOnlySpan<byte> source, ushort sourcePort, ReadOnlySpan<byte> destination, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var length = UdpLength + payload.Length;
        MemoryMarshal.Write(udp, sourcePort);
        MemoryMarshal.Write(udp[2..], destinationPort);
        // A datagram over 65,535 bytes cannot be sent (no jumbograms); the listener's limits keep below it.
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)length);
        udp[6] = 0;
        udp[7] = 0;
        var sum = InternetChecksum.Add(InternetChecksum.Add(0, source[..16]), destination[..16]);
        sum = InternetChecksum.AddWord(InternetChecksum.AddWord(sum, (ushort)length), NextHeaderUdp);
        sum = InternetChecksum.Add(InternetChecksum.Add(sum, udp[..UdpLength]), payload);
        var checksum = InternetChecksum.Finish(sum);
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], checksum == 0 ? (ushort)0xFFFF : checksum);
    }

    /// <summary>The fixed IPv6 header: traffic class and flow label 0, hop limit 64, <paramref name="payloadLength"/> bytes after it.</summary>
    public static void WriteIpv6(Span<byte> ip, ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, int payloadLength, byte nextHeader)
    {
        BinaryPrimitives.WriteUInt32BigEndian(ip, 0x60000000);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)payloadLength);
        ip[6] = nextHeader;
        ip[7] = HopLimit;
        source[..16].CopyTo(ip[8..]);
        destination[..16].CopyTo(ip[24..]);
    }

    /// <summary>
    /// The fragment header (RFC 8200 section 4.5) of a fragment starting <paramref name="fragmentOffset"/> bytes
    /// (a multiple of 8) into the UDP datagram.
    /// </summary>
    public static void WriteFragment(Span<byte> fragment, int fragmentOffset, bool moreFragments, uint id)
    {
        fragment[0] = NextHeaderUdp;
        fragment[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(fragment[2..], (ushort)(fragmentOffset | (moreFragments ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(fragment[4..], id);
    }
}
