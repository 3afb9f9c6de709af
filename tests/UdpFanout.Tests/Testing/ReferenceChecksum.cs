using System.Buffers.Binary;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// RFC 1071 computed the plainest way, word by word in network order, to check the daemon's faster sum against, and
/// the checks a receiving kernel makes of an IPv4 header and of a reassembled UDP datagram.
/// </summary>
internal static class ReferenceChecksum
{
    public static ushort Of(ReadOnlySpan<byte> bytes)
    {
        uint sum = 0;
        for (var i = 0; i + 1 < bytes.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(bytes[i..]);
        }
        if ((bytes.Length & 1) != 0)
        {
            sum += (uint)bytes[^1] << 8;
        }
        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    /// <summary>True when the header's checksum field makes its whole sum come out right, as a receiver checks it.</summary>
    public static bool Ipv4HeaderValid(ReadOnlySpan<byte> header) => Of(header[..((header[0] & 0x0F) * 4)]) == 0;

    /// <summary>True when a UDP datagram (header and payload) checks out against its pseudo-header, as a receiver checks it.</summary>
    public static bool UdpValid(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, ReadOnlySpan<byte> udp)
    {
        var whole = new byte[12 + udp.Length];
        source.CopyTo(whole);
        destination.CopyTo(whole.AsSpan(4));
        whole[9] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(whole.AsSpan(10), (ushort)udp.Length);
        udp.CopyTo(whole.AsSpan(12));
        return BinaryPrimitives.ReadUInt16BigEndian(udp[6..]) != 0 && Of(whole) == 0;
    }
}
