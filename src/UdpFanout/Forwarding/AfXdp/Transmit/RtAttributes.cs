using System.Runtime.InteropServices;
using static Interop.Netlink;

namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>Reads the attributes (struct rtattr, 4-byte aligned) that follow an rtnetlink message's fixed part.</summary>
internal static unsafe class RtAttributes
{
    /// <summary>The payload of the first attribute of <paramref name="type"/>, or an empty span.</summary>
    public static ReadOnlySpan<byte> Find(ReadOnlySpan<byte> attributes, ushort type)
    {
        for (var offset = 0; offset + sizeof(rtattr) <= attributes.Length;)
        {
            var header = MemoryMarshal.Read<rtattr>(attributes[offset..]);
            if (header.rta_len < sizeof(rtattr) || offset + header.rta_len > attributes.Length)
            {
                break;
            }
            if (header.rta_type == type)
            {
                return attributes.Slice(offset + sizeof(rtattr), header.rta_len - sizeof(rtattr));
            }
            offset += (header.rta_len + 3) & ~3;
        }
        return [];
    }

    /// <summary>An IPv4 address attribute as it is on the wire (network byte order), or null when absent.</summary>
    public static uint? Address(ReadOnlySpan<byte> attributes, ushort type) =>
        Find(attributes, type) is { Length: 4 } value ? MemoryMarshal.Read<uint>(value) : null;
}
