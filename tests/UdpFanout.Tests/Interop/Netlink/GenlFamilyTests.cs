using UdpFanout.Tests.Testing;
using static Interop.Libc;
using static Interop.Netlink;

namespace UdpFanout.Tests.Interop.Netlink;

/// <summary>The generic netlink controller of the running kernel (6.18: it has the netdev family, Linux 6.3).</summary>
[Collection(KernelCollection.Name)]
public sealed class GenlFamilyTests
{
    [Fact]
    public void Resolve_Netdev_IdAndItsMgmtGroup()
    {
        using var socket = NetlinkSocket.Open(NETLINK_GENERIC);

        var netdev = GenlFamily.Resolve(socket, NETDEV_FAMILY_NAME);

        Assert.True(netdev.Id > GENL_ID_CTRL, $"id {netdev.Id}");
        Assert.True(netdev.Group(NETDEV_MCGRP_MGMT) > 0);
        Assert.Equal("the kernel's generic netlink family 'netdev' has no multicast group 'nosuchgroup': No such file or directory (errno 2)",
            Assert.Throws<NetlinkException>(() => netdev.Group("nosuchgroup")).Message);
    }

    [Fact]
    public void Resolve_FamilyTheKernelLacks_RefusedWithENOENT()
    {
        using var socket = NetlinkSocket.Open(NETLINK_GENERIC);

        var error = Assert.Throws<NetlinkException>(() => GenlFamily.Resolve(socket, "nosuchfamily"));

        Assert.Equal((ENOENT, true), (error.Errno, error.Refused));
        Assert.Equal("the kernel refused to describe the generic netlink family 'nosuchfamily': No such file or directory (errno 2)", error.Message);
    }
}
