using System.Buffers.Binary;
using static Interop.Libc;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// Finds the UDP payload of an Ethernet frame (at most one 802.1Q/802.1ad tag, IPv4 or IPv6, UDP), checking every length
/// against the frame before it is used: the XDP program already filtered, but a forwarder trusts no frame.
/// </summary>
internal static class FrameParser
{
    private const int EthernetHeader = 14;
    private const int Ipv6Header = 40;
    private const byte Ipv6Fragment = 44;

    public static FrameError TryParse(ReadOnlySpan<byte> frame, out int payloadOffset, out int payloadLength) =>
        TryParse(frame, Configuration.HashKey.SourceIp, out payloadOffset, out payloadLength, out _, out _);

    /// <param name="hashKey">What <paramref name="source"/> hashes.</param>
    /// <param name="source">The sender as <see cref="Balancing.SourceHash"/> keys it, for source-hash balancing.</param>
    /// <param name="client">
    /// The sender's address and port as they were, for a sender that keeps them (<c>preserve_source</c>): the hash
    /// key may leave the port out and cannot be turned back into an address.
    /// </param>
    public static FrameError TryParse(ReadOnlySpan<byte> frame, Configuration.HashKey hashKey, out int payloadOffset, out int payloadLength, out ulong source, out sockaddr_inet client)
    {
        source = 0;
        client = default;
        payloadOffset = 0;
        payloadLength = 0;
        if (frame.Length < EthernetHeader)
        {
            return FrameError.TruncatedEthernet;
        }
        var ip = EthernetHeader;
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        if (etherType is 0x8100 or 0x88A8)
        {
            if (frame.Length < EthernetHeader + 4)
            {
                return FrameError.TruncatedEthernet;
            }
            etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
            ip += 4;
        }
        return etherType switch
        {
            0x0800 => TryParseIpv4(frame, ip, hashKey, out payloadOffset, out payloadLength, out source, out client),
            0x86DD => TryParseIpv6(frame, ip, hashKey, out payloadOffset, out payloadLength, out source, out client),
            _ => FrameError.NotIp,
        };
    }

    private static unsafe FrameError TryParseIpv4(ReadOnlySpan<byte> frame, int ip, Configuration.HashKey hashKey, out int payloadOffset, out int payloadLength, out ulong source, out sockaddr_inet client)
    {
        source = 0;
        client = default;
        payloadOffset = 0;
        payloadLength = 0;
        var packet = frame[ip..];
        if (packet.Length < 20)
        {
            return FrameError.TruncatedIpv4;
        }
        var headerLength = (packet[0] & 0x0F) * 4;
        if (packet[0] >> 4 != 4 || headerLength < 20 || headerLength > packet.Length)
        {
            return FrameError.BadIhl;
        }
        // Ethernet may pad a short frame, so the IP total length may be less than what follows, never more.
        var totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if (totalLength < headerLength || totalLength > packet.Length)
        {
            return FrameError.BadTotalLength;
        }
        if (packet[9] != 17)
        {
            return FrameError.NotUdp;
        }
        if ((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0)
        {
            return FrameError.Fragment;
        }
        if (totalLength - headerLength < 8)
        {
            return FrameError.TruncatedUdp;
        }
        var udpLength = BinaryPrimitives.ReadUInt16BigEndian(packet[(headerLength + 4)..]);
        if (udpLength != totalLength - headerLength)
        {
            return FrameError.BadUdpLength;
        }
        source = Balancing.SourceHash.Key(BinaryPrimitives.ReadUInt32BigEndian(packet[12..]), BinaryPrimitives.ReadUInt16BigEndian(packet[headerLength..]), hashKey);
        // Network byte order, as a sockaddr_in holds them.
        client.v4.sin_family = AF_INET;
        client.v4.sin_addr = BinaryPrimitives.ReadUInt32LittleEndian(packet[12..]);
        client.v4.sin_port = BinaryPrimitives.ReadUInt16LittleEndian(packet[headerLength..]);
        payloadOffset = ip + headerLength + 8;
        payloadLength = udpLength - 8;
        return FrameError.None;
    }

    /// <summary>
    /// The fixed header followed directly by UDP. The XDP program passes datagrams with extension headers (a
    /// fragment header among them) to the stack, where the fallback socket receives them; one that reaches a
    /// socket anyway is refused here by its reason, as an IPv4 fragment is. So is a zero UDP checksum, which IPv6
    /// does not allow and the kernel would drop.
    /// </summary>
    private static unsafe FrameError TryParseIpv6(ReadOnlySpan<byte> frame, int ip, Configuration.HashKey hashKey, out int payloadOffset, out int payloadLength, out ulong source, out sockaddr_inet client)
    {
        source = 0;
        client = default;
        payloadOffset = 0;
        payloadLength = 0;
        var packet = frame[ip..];
        if (packet.Length < Ipv6Header)
        {
            return FrameError.TruncatedIpv6;
        }
        if (packet[0] >> 4 != 6)
        {
            return FrameError.BadVersion;
        }
        // As for IPv4: link padding may follow the payload, so the payload length may be less than what follows.
        var ipPayload = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        if (Ipv6Header + ipPayload > packet.Length)
        {
            return FrameError.BadPayloadLength;
        }
        switch (packet[6])
        {
            case 17:
                break;
            case Ipv6Fragment:
                return FrameError.Fragment;
            // The extension headers of RFC 7045: hop-by-hop, routing, authentication, destination options,
            // mobility, HIP, shim6. ESP hides what follows, so it counts as not UDP.
            case 0 or 43 or 51 or 60 or 135 or 139 or 140:
                return FrameError.ExtensionHeader;
            default:
                return FrameError.NotUdp;
        }
        if (ipPayload < 8)
        {
            return FrameError.TruncatedUdp;
        }
        var udp = packet[Ipv6Header..];
        var udpLength = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (udpLength != ipPayload)
        {
            return FrameError.BadUdpLength;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(udp[6..]) == 0)
        {
            return FrameError.ZeroUdpChecksum;
        }
        source = Balancing.SourceHash.Key(packet.Slice(8, 16), BinaryPrimitives.ReadUInt16BigEndian(udp), hashKey);
        client.v6.sin6_family = AF_INET6;
        client.v6.sin6_port = BinaryPrimitives.ReadUInt16LittleEndian(udp);
        fixed (byte* address = client.v6.sin6_addr)
        {
            packet.Slice(8, 16).CopyTo(new Span<byte>(address, 16));
        }
        payloadOffset = ip + Ipv6Header + 8;
        payloadLength = udpLength - 8;
        return FrameError.None;
    }
}
