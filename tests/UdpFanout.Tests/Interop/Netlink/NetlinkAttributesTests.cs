using static Interop.Netlink;

namespace UdpFanout.Tests.Interop.Netlink;

public sealed class NetlinkAttributesTests
{
    // Two attributes as the kernel lays them out: a u32 (type 1), then a 3-byte string (type 2, NLA_F_NESTED set) padded to 4.
    private static readonly byte[] TwoAttributes = [8, 0, 1, 0, 0x2a, 0, 0, 0, 7, 0, 2, 0x80, (byte)'a', (byte)'b', 0, 0];

    [Fact]
    public void Find_SecondAttributeWithAFlagBit_FoundByItsTypeWithoutPadding()
    {
        Assert.Equal("ab\0"u8.ToArray(), NetlinkAttributes.Find(TwoAttributes, 2).ToArray());
    }

    [Fact]
    public void Read_FixedSizeValue_ReadOnlyWhenTheSizeMatches()
    {
        Assert.Equal(42u, NetlinkAttributes.Read<uint>(TwoAttributes, 1));
        Assert.Null(NetlinkAttributes.Read<ulong>(TwoAttributes, 1));
        Assert.Null(NetlinkAttributes.Read<uint>(TwoAttributes, 3));
    }

    [Fact]
    public void Walk_LengthPastTheEnd_StopsBeforeIt()
    {
        byte[] cut = [8, 0, 1, 0, 0x2a, 0, 0, 0, 12, 0, 2, 0, 1, 2, 3, 4];

        var types = new List<ushort>();
        foreach (var (type, _) in NetlinkAttributes.Walk(cut))
        {
            types.Add(type);
        }

        Assert.Equal([(ushort)1], types);
        Assert.True(NetlinkAttributes.Find(cut, 2).IsEmpty);
    }

    [Fact]
    public void TrySplit_BodyAfterAGenlmsghdr_FixedPartAndTheAttributes()
    {
        byte[] body = [3, 1, 0, 0, .. TwoAttributes];

        Assert.True(NetlinkAttributes.TrySplit<genlmsghdr>(body, out var header, out var attributes));
        Assert.Equal((3, 1), (header.cmd, header.version));
        Assert.Equal(TwoAttributes, attributes.ToArray());
        Assert.False(NetlinkAttributes.TrySplit<genlmsghdr>(body.AsSpan(0, 3), out _, out _));
    }
}
