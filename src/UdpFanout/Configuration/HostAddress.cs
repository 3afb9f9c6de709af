using System.Buffers.Binary;
using System.Net;

namespace UdpFanout.Configuration;

/// <summary>One address of this host, with the subnet it was configured with.</summary>
internal sealed record HostAddress(string Interface, IPAddress Address, int PrefixLength)
{
    /// <summary>The subnet's directed broadcast; null for /31 and /32, which have none (RFC 3021), and for IPv6, which has none at all.</summary>
    public IPAddress? Broadcast => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && PrefixLength <= 30 ? FromHostOrder(HostOrder | HostBits) : null;

    public string Subnet => $"{FromHostOrder(HostOrder & ~HostBits)}/{PrefixLength}";

    // A 64-bit shift, as a 32-bit one by 32 would shift by nothing.
    private uint HostBits => (uint)(0xFFFF_FFFFUL >> PrefixLength);

    private uint HostOrder => BinaryPrimitives.ReadUInt32BigEndian(Address.GetAddressBytes());

    private static IPAddress FromHostOrder(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
