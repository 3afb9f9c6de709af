using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Balancing;

public sealed class SourceHashTests
{
    /// <summary>Fixed values, so a change to the hash (which would move every source and break agreement with older proxies and the BPF side) fails here. The values were computed apart from this code, in Python.</summary>
    [Theory]
    [InlineData(0x0A000001u, (ushort)0, 14433u)]
    [InlineData(0x0A000001u, (ushort)53, 54831u)]
    [InlineData(0xC0A80164u, (ushort)40000, 500u)]
    public void Slot_KnownSources_KnownSlots(uint address, ushort port, uint expected)
    {
        Assert.Equal(expected, SourceHash.Slot(SourceHash.Key(address, port, HashKey.SourceIpPort), 65537));
    }

    /// <summary>
    /// The IPv6 key, fixed the same way (Python: with w0..w3 the address's big-endian words, a = w0:w1, b = w2:w3,
    /// slot = mix(a ^ mix(b ^ mix(port))) % 65537); bpf/include/fanout_hash.h must give the same slots.
    /// </summary>
    [Theory]
    [InlineData("fd90::2", (ushort)0, 41667u)]
    [InlineData("fd90::2", (ushort)53, 43568u)]
    [InlineData("2001:db8::1", (ushort)40000, 23619u)]
    [InlineData("fd00::12", (ushort)5514, 24850u)]
    [InlineData("::1", (ushort)0, 24077u)]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", (ushort)65535, 21791u)]
    public void Slot_KnownIpv6Sources_KnownSlots(string address, ushort port, uint expected)
    {
        Assert.Equal(expected, SourceHash.Slot(SourceHash.Key(IPAddress.Parse(address).GetAddressBytes(), port, HashKey.SourceIpPort), 65537));
    }

    [Fact]
    public void Key_Ipv6SourceIp_LeavesThePortOut()
    {
        var address = IPAddress.Parse("fd90::2").GetAddressBytes();

        Assert.Equal(SourceHash.Key(address, 0, HashKey.SourceIpPort), SourceHash.Key(address, 4242, HashKey.SourceIp));
    }

    [Theory]
    [InlineData("10.190.1.2", 5000)]
    [InlineData("fd90:1::2", 5000)]
    public void Key_Endpoint_SameAsTheFamilysOwnKey(string address, int port)
    {
        var ip = IPAddress.Parse(address);
        var own = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? SourceHash.Key(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes()), (ushort)port, HashKey.SourceIpPort)
            : SourceHash.Key(ip.GetAddressBytes(), (ushort)port, HashKey.SourceIpPort);

        Assert.Equal(own, SourceHash.Key(new IPEndPoint(ip, port), HashKey.SourceIpPort));
    }

    [Fact]
    public void Slot_SourceIp_SameSlotForEveryPort()
    {
        var slots = Enumerable.Range(0, 100).Select(p => SourceHash.Slot(SourceHash.Key(0x0A000001, (ushort)p, HashKey.SourceIp), 65537)).Distinct();

        Assert.Single(slots);
    }

    [Fact]
    public void Slot_10000Sources_SpreadOverTheTable()
    {
        var buckets = new int[10];
        for (uint i = 0; i < 10_000; i++)
        {
            buckets[SourceHash.Slot(SourceHash.Key(0x0A000000 + i, 0, HashKey.SourceIp), 65537) % 10]++;
        }

        Assert.All(buckets, b => Assert.InRange(b, 900, 1100));
    }

    /// <summary>IPv6 hosts of one /64 differ only in the low words, so those must spread as well as IPv4 hosts do.</summary>
    [Fact]
    public void Slot_10000Ipv6SourcesOfOneSubnet_SpreadOverTheTable()
    {
        var buckets = new int[10];
        var address = IPAddress.Parse("fd90:1::").GetAddressBytes();
        for (uint i = 0; i < 10_000; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(address.AsSpan(12), i);
            buckets[SourceHash.Slot(SourceHash.Key(address, 0, HashKey.SourceIp), 65537) % 10]++;
        }

        Assert.All(buckets, b => Assert.InRange(b, 900, 1100));
    }
}
