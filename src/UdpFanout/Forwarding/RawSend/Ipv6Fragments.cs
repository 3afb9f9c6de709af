namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// How a UDP datagram larger than the route's MTU is cut into IPv6 fragments (RFC 8200 section 4.5): the kernel
/// refuses a header-included packet larger than the MTU (EMSGSIZE) instead of fragmenting it, so the raw sender
/// cuts it, as the client's own stack would. Each fragment is the IPv6 header (next header 44), a fragment header
/// with the datagram's identification, and a piece of the UDP datagram (header and payload): every piece but the
/// last a multiple of 8 bytes with the M flag. Only the first carries the UDP header, whose checksum covers the
/// whole payload. Pieces point into the payload where it lies: nothing is copied.
/// </summary>
internal static class Ipv6Fragments
{
    /// <summary>The smallest MTU IPv6 allows (RFC 8200 section 5); a smaller answer is taken as this.</summary>
    public const int MinimumMtu = 1280;

    /// <summary>The IPv6 and fragment headers ahead of every piece.</summary>
    public const int HeaderLength = Ipv6UdpHeaders.Ipv6Length + Ipv6UdpHeaders.FragmentLength;

    /// <summary>Bytes of the UDP datagram in each fragment but the last: what fits after both headers, down to a multiple of 8.</summary>
    public static int PerFragment(int mtu) => (Math.Max(mtu, MinimumMtu) - HeaderLength) & ~7;

    /// <summary>How many fragments a datagram of <paramref name="payloadLength"/> payload bytes takes at <paramref name="mtu"/>.</summary>
    public static int Count(int payloadLength, int mtu)
    {
        var per = PerFragment(mtu);
        return (Ipv6UdpHeaders.UdpLength + payloadLength + per - 1) / per;
    }

    /// <summary>
    /// Writes fragment <paramref name="index"/>'s IPv6 and fragment headers (and, for the first,
    /// <paramref name="udpHeader"/> after them) into <paramref name="header"/>, and returns its header length and
    /// which payload bytes follow the header.
    /// </summary>
    public static (int HeaderLength, int PayloadStart, int PayloadLength) Write(
        Span<byte> header, int index, int payloadLength, int mtu, ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, uint id, ReadOnlySpan<byte> udpHeader)
    {
        var per = PerFragment(mtu);
        var udpTotal = Ipv6UdpHeaders.UdpLength + payloadLength;
        var start = index * per;
        var length = Math.Min(per, udpTotal - start);
        Ipv6UdpHeaders.WriteIpv6(header, source, destination, Ipv6UdpHeaders.FragmentLength + length, Ipv6UdpHeaders.NextHeaderFragment);
        Ipv6UdpHeaders.WriteFragment(header[Ipv6UdpHeaders.Ipv6Length..], start, start + length < udpTotal, id);
        if (index == 0)
        {
            udpHeader[..Ipv6UdpHeaders.UdpLength].CopyTo(header[HeaderLength..]);
            return (HeaderLength + Ipv6UdpHeaders.UdpLength, 0, length - Ipv6UdpHeaders.UdpLength);
        }
        return (HeaderLength, start - Ipv6UdpHeaders.UdpLength, length);
    }
}
