using System.Buffers.Binary;
using System.Net;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Builds Ethernet frames carrying IPv6 UDP datagrams, extension headers included, with the UDP checksum computed
/// from scratch over the pseudo-header, so a frame rewritten incrementally by a BPF program can be compared byte
/// for byte with the frame it should have become.
/// </summary>
public sealed record Ipv6UdpFrame
{
    public const byte HopByHop = 0;
    public const byte Routing = 43;
    public const byte Fragment = 44;
    public const byte Authentication = 51;
    public const byte DestinationOptions = 60;

    public IPAddress Source { get; init; } = IPAddress.Parse("fd91:2::10");
    public IPAddress Destination { get; init; } = IPAddress.Parse("fd91:1::1");
    public int SourcePort { get; init; } = 40000;
    public int DestinationPort { get; init; } = 5514;
    public byte HopLimit { get; init; } = 64;
    public byte TrafficClass { get; init; }
    public int FlowLabel { get; init; }
    public ushort? VlanId { get; init; }
    /// <summary>
    /// Extension headers between the fixed header and UDP, in order, by their next-header number: options headers
    /// and routing as 8 bytes of padding, the fragment header with <see cref="FragmentOffsetUnits"/> and
    /// <see cref="MoreFragments"/>, an authentication header of 16 bytes (a multiple of 8 in IPv6).
    /// </summary>
    public byte[] ExtensionHeaders { get; init; } = [];
    public ushort FragmentOffsetUnits { get; init; }
    public bool MoreFragments { get; init; }
    /// <summary>Send a zero UDP checksum, which IPv6 does not allow.</summary>
    public bool ZeroUdpChecksum { get; init; }
    /// <summary>The IP version field; anything but 6 is a header the kernel refuses.</summary>
    public byte IpVersion { get; init; } = 6;
    /// <summary>A payload length to write instead of the real one.</summary>
    public ushort? PayloadLength { get; init; }
    public byte[] Payload { get; init; } = [1, 2, 3, 4, 5, 6, 7, 8];

    /// <summary>Where the UDP header starts in the built frame.</summary>
    public int UdpOffset => (VlanId is null ? 14 : 18) + 40 + ExtensionHeaders.Sum(ExtensionLength);

    public byte[] Build()
    {
        var eth = VlanId is null ? 14 : 18;
        var udpOffset = UdpOffset;
        var frame = new byte[udpOffset + 8 + Payload.Length];
        var span = frame.AsSpan();
        new byte[] { 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2 }.CopyTo(span);
        if (VlanId is { } vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[12..], 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(span[14..], vlan);
        }
        BinaryPrimitives.WriteUInt16BigEndian(span[(eth - 2)..], 0x86DD);

        var ip = span[eth..];
        BinaryPrimitives.WriteUInt32BigEndian(ip, (uint)(IpVersion << 28 | TrafficClass << 20 | (FlowLabel & 0xFFFFF)));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], PayloadLength ?? (ushort)(frame.Length - eth - 40));
        ip[6] = ExtensionHeaders.Length > 0 ? ExtensionHeaders[0] : (byte)17;
        ip[7] = HopLimit;
        Source.TryWriteBytes(ip[8..], out _);
        Destination.TryWriteBytes(ip[24..], out _);
        var offset = eth + 40;
        for (var i = 0; i < ExtensionHeaders.Length; i++)
        {
            var header = span[offset..];
            header[0] = i + 1 < ExtensionHeaders.Length ? ExtensionHeaders[i + 1] : (byte)17;
            switch (ExtensionHeaders[i])
            {
                case Fragment:
                    BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)(FragmentOffsetUnits << 3 | (MoreFragments ? 1 : 0)));
                    BinaryPrimitives.WriteUInt32BigEndian(header[4..], 0x12345678);
                    break;
                case Authentication:
                    header[1] = 2;
                    break;
                default:
                    // Length 0 (8 bytes) holding one PadN option over the remaining six.
                    header[2] = 1;
                    header[3] = 4;
                    break;
            }
            offset += ExtensionLength(ExtensionHeaders[i]);
        }

        var udp = span[udpOffset..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + Payload.Length));
        Payload.CopyTo(udp[8..]);
        if (!ZeroUdpChecksum)
        {
            var sum = UdpChecksum(Source, Destination, udp);
            // RFC 8200 section 8.1: a computed zero is sent as all ones; zero is not allowed.
            BinaryPrimitives.WriteUInt16BigEndian(udp[6..], sum == 0 ? (ushort)0xFFFF : sum);
        }
        return frame;
    }

    /// <summary>The UDP checksum of <paramref name="udp"/> (its checksum field zero) over the IPv6 pseudo-header.</summary>
    public static ushort UdpChecksum(IPAddress source, IPAddress destination, ReadOnlySpan<byte> udp)
    {
        var pseudo = new byte[40 + udp.Length];
        source.TryWriteBytes(pseudo, out _);
        destination.TryWriteBytes(pseudo.AsSpan(16), out _);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(32), (uint)udp.Length);
        pseudo[39] = 17;
        udp.CopyTo(pseudo.AsSpan(40));
        BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(40 + 6), 0);
        uint sum = 0;
        for (var i = 0; i + 1 < pseudo.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(pseudo.AsSpan(i));
        }
        if (pseudo.Length % 2 == 1)
        {
            sum += (uint)pseudo[^1] << 8;
        }
        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    private static int ExtensionLength(byte type) => type == Authentication ? 16 : 8;
}
