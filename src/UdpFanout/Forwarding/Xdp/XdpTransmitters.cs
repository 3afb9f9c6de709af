using static Interop.Netlink;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// The interfaces of the calling thread's network namespace that can transmit XDP frames redirected to them right
/// now, as the kernel's netdev family reports them (xdp-features with NDO_XMIT, what <c>ynl</c> and
/// <c>ethtool</c> show). It changes while the system runs: a veth takes redirected frames only while its peer has an
/// XDP program or GRO. The family says so on its "mgmt" multicast group (a device added, deleted, or changed:
/// its xdp-features among the rest), which <see cref="WaitForChange"/> listens to. A redirect to any other interface
/// is dropped by the kernel after the program returned, past what the program can see. The sockets are opened once,
/// in the namespace of the thread that opens them, and keep speaking of that namespace whichever thread uses them.
/// </summary>
internal sealed class XdpTransmitters : IDisposable
{
    private readonly NetlinkSocket _requests;
    private readonly NetlinkSocket _notifications;
    private readonly GenlFamily _netdev;

    private XdpTransmitters(NetlinkSocket requests, NetlinkSocket notifications, GenlFamily netdev)
    {
        _requests = requests;
        _notifications = notifications;
        _netdev = netdev;
    }

    /// <summary>Opens the sockets and subscribes at once, so a change after the first <see cref="Read"/> is not missed.</summary>
    public static XdpTransmitters Open()
    {
        var requests = NetlinkSocket.Open(NETLINK_GENERIC);
        NetlinkSocket? notifications = null;
        try
        {
            // Kernels before 6.3 have no netdev family and cannot say (ENOENT).
            var netdev = GenlFamily.Resolve(requests, NETDEV_FAMILY_NAME);
            notifications = NetlinkSocket.Open(NETLINK_GENERIC);
            notifications.JoinGroup(netdev.Group(NETDEV_MCGRP_MGMT));
            return new XdpTransmitters(requests, notifications, netdev);
        }
        catch
        {
            requests.Dispose();
            notifications?.Dispose();
            throw;
        }
    }

    /// <summary>The indexes of the interfaces that take redirected XDP frames now. One caller at a time.</summary>
    public HashSet<int> Read()
    {
        var found = new HashSet<int>();
        _requests.Request(_netdev.Request(NETDEV_CMD_DEV_GET, NLM_F_REQUEST | NLM_F_DUMP), "list the devices' XDP features", (type, body) =>
        {
            if (type == _netdev.Id && NetlinkAttributes.TrySplit<genlmsghdr>(body, out _, out var attributes)
                && NetlinkAttributes.Read<int>(attributes, NETDEV_A_DEV_IFINDEX) is { } index
                && (NetlinkAttributes.Read<ulong>(attributes, NETDEV_A_DEV_XDP_FEATURES) & NETDEV_XDP_ACT_NDO_XMIT) is not (0 or null))
            {
                found.Add(index);
            }
        });
        return found;
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> for the kernel to report a device change, and takes in
    /// the rest of its burst: true when one came, and <see cref="Read"/> is due. Throws <see cref="NetlinkException"/>
    /// when notifications were lost (ENOBUFS): then too, only a fresh <see cref="Read"/> knows what holds now.
    /// </summary>
    public bool WaitForChange(int timeoutMilliseconds)
    {
        if (!_notifications.ReceiveNotifications(timeoutMilliseconds, static (_, _) => { }))
        {
            return false;
        }
        while (_notifications.ReceiveNotifications(0, static (_, _) => { }))
        {
        }
        return true;
    }

    public void Dispose()
    {
        _requests.Dispose();
        _notifications.Dispose();
    }
}
