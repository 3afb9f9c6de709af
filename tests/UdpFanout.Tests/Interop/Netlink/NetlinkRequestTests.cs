using static Interop.Netlink;

namespace UdpFanout.Tests.Interop.Netlink;

public sealed class NetlinkRequestTests
{
    [Fact]
    public void Seal_FixedPartAndAttributes_EachAlignedWithLengthAndSequenceInTheHeader()
    {
        var request = new NetlinkRequest(GENL_ID_CTRL, NLM_F_REQUEST)
            .Put(new genlmsghdr { cmd = CTRL_CMD_GETFAMILY, version = 1 })
            .Attribute(CTRL_ATTR_FAMILY_NAME, "ab\0"u8)
            .Attribute(CTRL_ATTR_FAMILY_ID, (ushort)0x1234);

        var bytes = request.Seal(7).ToArray();

        byte[] expected =
        [
            36, 0, 0, 0, 0x10, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr: length 36, GENL_ID_CTRL, NLM_F_REQUEST, seq 7
            3, 1, 0, 0,                                          // genlmsghdr
            7, 0, 2, 0, (byte)'a', (byte)'b', 0, 0,              // the name, 7 bytes long, padded to 8
            6, 0, 1, 0, 0x34, 0x12, 0, 0,                        // a u16, 6 bytes long, padded to 8 (the message's length too)
        ];
        Assert.Equal(expected, bytes);
    }
}
