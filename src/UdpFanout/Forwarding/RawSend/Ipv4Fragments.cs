namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// How a UDP datagram larger than the route's MTU is cut into IPv4 fragments (RFC 791): the kernel refuses an
/// IP_HDRINCL packet larger than the device's MTU (EMSGSIZE) instead of fragmenting it, so the raw sender cuts it.
/// Every fragment but the last carries the same multiple of 8 bytes of the UDP datagram (header and payload) and
/// the more-fragments flag; all carry the datagram's IP ID; only the first carries the UDP header, whose checksum
/// covers the whole payload. Fragments point into the payload where it lies: nothing is copied.
/// </summary>
internal static class Ipv4Fragments
{
    /// <summary>The smallest MTU IPv4 allows (RFC 791: 68 octets); a smaller answer is taken as this.</summary>
    public const int MinimumMtu = 68;

    /// <summary>Bytes of the UDP datagram in each fragment but the last: what fits after the IP header, down to a multiple of 8.</summary>
    public static int PerFragment(int mtu) => (Math.Max(mtu, MinimumMtu) - Ipv4UdpHeaders.Ipv4Length) & ~7;

    /// <summary>How many fragments a datagram of <paramref name="payloadLength"/> payload bytes takes at <paramref name="mtu"/>.</summary>
    public static int Count(int payloadLength, int mtu)
    {
        var per = PerFragment(mtu);
        return (Ipv4UdpHeaders.UdpLength + payloadLength + per - 1) / per;
    }

    /// <summary>
    /// Writes fragment <paramref name="index"/>'s IP header (and, for the first, <paramref name="udpHeader"/> after it)
    /// into <paramref name="header"/>, and returns its header length and which payload bytes follow the header.
    /// </summary>
    public static (int HeaderLength, int PayloadStart, int PayloadLength) Write(
        Span<byte> header, int index, int payloadLength, int mtu, uint source, uint destination, ushort id, ReadOnlySpan<byte> udpHeader)
    {
        var per = PerFragment(mtu);
        var udpTotal = Ipv4UdpHeaders.UdpLength + payloadLength;
        var start = index * per;
        var length = Math.Min(per, udpTotal - start);
        var more = start + length < udpTotal;
        Ipv4UdpHeaders.WriteIpv4(header, source, destination, id, Ipv4UdpHeaders.Ipv4Length + length, start, more);
        if (index == 0)
        {
            udpHeader[..Ipv4UdpHeaders.UdpLength].CopyTo(header[Ipv4UdpHeaders.Ipv4Length..]);
            return (Ipv4UdpHeaders.Length, 0, length - Ipv4UdpHeaders.UdpLength);
        }
        return (Ipv4UdpHeaders.Ipv4Length, start - Ipv4UdpHeaders.UdpLength, length);
    }
}
