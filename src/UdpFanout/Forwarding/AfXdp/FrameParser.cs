using System.Buffers.Binary;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// Finds the UDP payload of an Ethernet frame (at most one 802.1Q/802.1ad tag, IPv4, UDP), checking every length
/// against the frame before it is used: the XDP program already filtered, but a forwarder trusts no frame.
/// </summary>
internal static class FrameParser
{
    private const int EthernetHeader = 14;

    public static FrameError TryParse(ReadOnlySpan<byte> frame, out int payloadOffset, out int payloadLength) =>
        TryParse(frame, Configuration.HashKey.SourceIp, out payloadOffset, out payloadLength, out _);

    /// <param name="hashKey">What <paramref name="source"/> hashes.</param>
    /// <param name="source">The sender as <see cref="Balancing.SourceHash"/> keys it, for source-hash balancing.</param>
    public static FrameError TryParse(ReadOnlySpan<byte> frame, Configuration.HashKey hashKey, out int payloadOffset, out int payloadLength, out ulong source)
    {
        source = 0;
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
        if (etherType != 0x0800)
        {
            return FrameError.NotIpv4;
        }
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
        payloadOffset = ip + headerLength + 8;
        payloadLength = udpLength - 8;
        return FrameError.None;
    }
}
