using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace UdpFanout.Model;

/// <summary>
/// The Internet checksum (RFC 1071) of ICMP probes and of the IPv4 and UDP headers that source-keeping sends
/// build. RFC 1071 section 2 (B): the ones' complement sum is the same in either byte order, so bytes are summed
/// as native 64-bit words (one add with end-around carry per 8 bytes, which is what keeps a checksum over every
/// forwarded payload cheap) and the result is put in network order once at the end.
/// </summary>
internal static class InternetChecksum
{
    /// <summary>
    /// Adds <paramref name="bytes"/> to a running sum started at 0. Every part but the last must have an even
    /// length, as pseudo-header, header and payload do: an odd part would shift the bytes after it.
    /// </summary>
    public static ulong Add(ulong sum, ReadOnlySpan<byte> bytes)
    {
        var i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            sum = AddCarry(sum, MemoryMarshal.Read<ulong>(bytes[i..]));
        }
        if (i + 4 <= bytes.Length)
        {
            sum = AddCarry(sum, MemoryMarshal.Read<uint>(bytes[i..]));
            i += 4;
        }
        if (i + 2 <= bytes.Length)
        {
            sum = AddCarry(sum, MemoryMarshal.Read<ushort>(bytes[i..]));
            i += 2;
        }
        if (i < bytes.Length)
        {
            // The odd last byte is the high byte of a word padded with zero, whose native value is the byte itself
            // on a little-endian machine and the byte shifted up on a big-endian one.
            sum = AddCarry(sum, BitConverter.IsLittleEndian ? bytes[i] : (ulong)bytes[i] << 8);
        }
        return sum;
    }

    /// <summary>Adds a 16-bit value given in host order (a length, a protocol number) as the checksum's word.</summary>
    public static ulong AddWord(ulong sum, ushort hostOrder) =>
        AddCarry(sum, BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(hostOrder) : hostOrder);

    /// <summary>The checksum field's value from a running sum, in host order (write it big-endian).</summary>
    public static ushort Finish(ulong sum)
    {
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        var folded = (ushort)~sum;
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
    }

    /// <summary>The checksum of <paramref name="bytes"/> alone, in host order.</summary>
    public static ushort Of(ReadOnlySpan<byte> bytes) => Finish(Add(0, bytes));

    private static ulong AddCarry(ulong sum, ulong value)
    {
        var result = sum + value;
        return result + (result < value ? 1UL : 0UL);
    }
}
