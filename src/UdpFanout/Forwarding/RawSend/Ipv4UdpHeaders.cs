using System.Buffers.Binary;
using System.Runtime.InteropServices;
using UdpFanout.Model;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// Writes the IPv4 and UDP headers of a datagram sent on a raw socket with the client's source address and port.
/// Addresses and ports are taken as they sit in a <c>sockaddr_in</c>, in network byte order, so they are copied,
/// never converted. The kernel fills in the IP checksum and total length of IP_HDRINCL packets itself, but both are
/// written here anyway so that a header is correct on its own (the unit tests check it as a receiver would).
/// </summary>
internal static class Ipv4UdpHeaders
{
    public const int Ipv4Length = 20;
    public const int UdpLength = 8;
    /// <summary>Both headers of an unfragmented datagram, which go out as one iovec ahead of the payload.</summary>
    public const int Length = Ipv4Length + UdpLength;

    private const byte VersionAndIhl = 0x45;
    private const byte Ttl = 64;
    private const byte ProtocolUdp = 17;
    private const ushort MoreFragments = 0x2000;

    /// <summary>
    /// The UDP header of <paramref name="payload"/>, its checksum over the pseudo-header, the header and the whole
    /// payload (RFC 768). A checksum that comes out 0 is sent as 0xFFFF: 0 would mean "none".
    /// </summary>
    public static void WriteUdp(Span<byte> udp, uint source, ushort sourcePort, uint destination, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var length = (ushort)(UdpLength + payload.Length);
        MemoryMarshal.Write(udp, sourcePort);
        MemoryMarshal.Write(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], length);
        udp[6] = 0;
        udp[7] = 0;
        Span<byte> pseudo = stackalloc byte[12];
        MemoryMarshal.Write(pseudo, source);
        MemoryMarshal.Write(pseudo[4..], destination);
        pseudo[8] = 0;
        pseudo[9] = ProtocolUdp;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], length);
        var sum = InternetChecksum.Add(InternetChecksum.Add(InternetChecksum.Add(0, pseudo), udp[..UdpLength]), payload);
        var checksum = InternetChecksum.Finish(sum);
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], checksum == 0 ? (ushort)0xFFFF : checksum);
    }

    /// <summary>
    /// An IPv4 header without options carrying UDP. <paramref name="fragmentOffset"/> is in bytes from the start of
    /// the UDP header (a multiple of 8); an unfragmented datagram has offset 0 and no more fragments. DF stays clear,
    /// so a router whose next link is smaller fragments the datagram further instead of dropping it: the ICMP "needed"
    /// error it would send goes to the client's address, never to the proxy, which could not act on it.
    /// </summary>
    public static void WriteIpv4(Span<byte> ip, uint source, uint destination, ushort id, int totalLength, int fragmentOffset, bool moreFragments)
    {
        ip[0] = VersionAndIhl;
        ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], id);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], (ushort)(fragmentOffset / 8 | (moreFragments ? MoreFragments : 0)));
        ip[8] = Ttl;
        ip[9] = ProtocolUdp;
        ip[10] = 0;
        ip[11] = 0;
        MemoryMarshal.Write(ip[12..], source);
        MemoryMarshal.Write(ip[16..], destination);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Of(ip[..Ipv4Length]));
    }
}
