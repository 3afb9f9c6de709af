using System.Buffers.Binary;
using System.Net;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Builds Ethernet frames carrying IPv4 UDP datagrams with checksums computed from scratch, so a frame rewritten
/// incrementally by a BPF program can be compared byte for byte with the frame it should have become.
/// </summary>
public sealed record Ipv4UdpFrame
{
    public IPAddress Source { get; init; } = IPAddress.Parse("192.0.2.10");
    public IPAddress Destination { get; init; } = IPAddress.Parse("192.0.2.1");
    public int SourcePort { get; init; } = 40000;
    public int DestinationPort { get; init; } = 5514;
    public byte Ttl { get; init; } = 64;
    public byte Tos { get; init; }
    public ushort? VlanId { get; init; }
    /// <summary>Bytes of IPv4 options (a multiple of 4, at most 40).</summary>
    public byte[] IpOptions { get; init; } = [];
    public bool MoreFragments { get; init; }
    public ushort FragmentOffsetUnits { get; init; }
    public bool ZeroUdpChecksum { get; init; }
    /// <summary>The IP version field; anything but 4 is a header the kernel refuses.</summary>
    public byte IpVersion { get; init; } = 4;
    /// <summary>An IHL to write instead of the real header length (the header itself keeps its real size).</summary>
    public byte? HeaderLengthWords { get; init; }
    /// <summary>A total length to write instead of the real one.</summary>
    public ushort? TotalLength { get; init; }
    /// <summary>Send the IPv4 header checksum off by one, as a corrupted header would be.</summary>
    public bool BadIpChecksum { get; init; }
    public byte[] Payload { get; init; } = [1, 2, 3, 4, 5, 6, 7, 8];

    public byte[] Build()
    {
        var eth = VlanId is null ? 14 : 18;
        var ipHeader = 20 + IpOptions.Length;
        var frame = new byte[eth + ipHeader + 8 + Payload.Length];
        var span = frame.AsSpan();
        // Destination and source MAC: fixed, locally administered.
        new byte[] { 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2 }.CopyTo(span);
        if (VlanId is { } vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[12..], 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(span[14..], vlan);
        }
        BinaryPrimitives.WriteUInt16BigEndian(span[(eth - 2)..], 0x0800);

        var ip = span.Slice(eth, ipHeader);
        ip[0] = (byte)((IpVersion << 4) | (HeaderLengthWords ?? ipHeader / 4));
        ip[1] = Tos;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], TotalLength ?? (ushort)(ipHeader + 8 + Payload.Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], (ushort)((MoreFragments ? 0x2000 : 0) | FragmentOffsetUnits));
        ip[8] = Ttl;
        ip[9] = 17;
        Source.TryWriteBytes(ip[12..], out _);
        Destination.TryWriteBytes(ip[16..], out _);
        IpOptions.CopyTo(ip[20..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)(Checksum(ip) + (BadIpChecksum ? 1 : 0)));

        var udp = span[(eth + ipHeader)..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + Payload.Length));
        Payload.CopyTo(udp[8..]);
        if (!ZeroUdpChecksum)
        {
            var pseudo = new byte[12 + udp.Length];
            Source.TryWriteBytes(pseudo, out _);
            Destination.TryWriteBytes(pseudo.AsSpan(4), out _);
            pseudo[9] = 17;
            BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), (ushort)udp.Length);
            udp.CopyTo(pseudo.AsSpan(12));
            var sum = Checksum(pseudo);
            // RFC 768: a computed zero is sent as all ones, since zero means "no checksum".
            BinaryPrimitives.WriteUInt16BigEndian(udp[6..], sum == 0 ? (ushort)0xFFFF : sum);
        }
        return frame;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (var i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }
        if (data.Length % 2 == 1)
        {
            sum += (uint)data[^1] << 8;
        }
        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }
}
