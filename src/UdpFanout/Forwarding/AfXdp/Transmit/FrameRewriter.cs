using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>
/// Turns a received Ethernet/IPv4/UDP frame into the one a router would send to the downstream, in place: new
/// MAC addresses, destination address and port, TTL one less, and both checksums updated for exactly those words
/// (RFC 1624: HC' = ~(~HC + ~m + m')), so a frame costs a few additions whatever its length. The source address
/// and port stay the client's. The frame was checked by <see cref="FrameParser"/> first.
/// </summary>
internal static unsafe class FrameRewriter
{
    public const int EthernetHeader = 14;

    /// <summary>
    /// Rewrites the untagged IPv4 frame at <paramref name="frame"/> whose UDP header starts at
    /// <paramref name="udpOffset"/>; <paramref name="address"/> and <paramref name="port"/> in network byte order,
    /// as a <c>sockaddr_in</c> holds them.
    /// </summary>
    public static void Rewrite(byte* frame, int udpOffset, ulong destinationMac, ulong sourceMac, uint address, ushort port)
    {
        WriteMac(frame, destinationMac);
        WriteMac(frame + 6, sourceMac);
        var ip = frame + EthernetHeader;
        var udp = frame + udpOffset;

        var oldTtlProtocol = ReadWord(ip + 8);
        var newTtlProtocol = (ushort)(oldTtlProtocol - 0x100);
        var oldAddressHigh = ReadWord(ip + 16);
        var oldAddressLow = ReadWord(ip + 18);
        Unsafe.WriteUnaligned(ip + 16, address);
        var newAddressHigh = ReadWord(ip + 16);
        var newAddressLow = ReadWord(ip + 18);
        ip[8] = (byte)(newTtlProtocol >> 8);
        WriteWord(ip + 10, Update(ReadWord(ip + 10), oldTtlProtocol, newTtlProtocol, oldAddressHigh, newAddressHigh, oldAddressLow, newAddressLow));

        var oldPort = ReadWord(udp + 2);
        Unsafe.WriteUnaligned(udp + 2, port);
        var udpChecksum = ReadWord(udp + 6);
        // Zero means the sender computed none (allowed in IPv4): there is nothing to update, and none is added.
        if (udpChecksum != 0)
        {
            // The pseudo-header's destination address counts in the UDP checksum; the TTL does not.
            var updated = Update(udpChecksum, oldPort, ReadWord(udp + 2), oldAddressHigh, newAddressHigh, oldAddressLow, newAddressLow);
            // A computed zero is sent as all ones, as zero would mean "no checksum" (RFC 768).
            WriteWord(udp + 6, updated == 0 ? (ushort)0xFFFF : updated);
        }
    }

    /// <summary>The TTL the frame arrived with: at 1 or less a router drops it rather than send it on.</summary>
    public static byte Ttl(byte* frame) => frame[EthernetHeader + 8];

    /// <summary>A MAC address packed as <see cref="Rewrite"/> takes it: its six bytes in wire order from the lowest byte.</summary>
    public static ulong PackMac(ReadOnlySpan<byte> mac)
    {
        ulong packed = 0;
        for (var i = 5; i >= 0; i--)
        {
            packed = packed << 8 | mac[i];
        }
        return packed;
    }

    private static ushort Update(ushort checksum, ushort old1, ushort new1, ushort old2, ushort new2, ushort old3, ushort new3)
    {
        uint sum = (ushort)~checksum;
        sum += (ushort)~old1 + (uint)new1 + (ushort)~old2 + new2 + (ushort)~old3 + new3;
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    private static void WriteMac(byte* at, ulong mac)
    {
        // Little-endian stores put the packed address's lowest byte first, as the wire has it (x86-64, arm64).
        Unsafe.WriteUnaligned(at, (uint)mac);
        Unsafe.WriteUnaligned(at + 4, (ushort)(mac >> 32));
    }

    private static ushort ReadWord(byte* at) => BinaryPrimitives.ReadUInt16BigEndian(new ReadOnlySpan<byte>(at, 2));

    private static void WriteWord(byte* at, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(at, 2), value);
}
