using static Interop.Netlink;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// Whether an interface's clsact qdisc still carries filters, asked the way <c>tc filter show</c> asks: an
/// RTM_GETTFILTER dump of each hook. The qdisc belongs to everyone who filters on the interface (other listeners,
/// other tools), so it may only go when nothing is left on it.
/// </summary>
internal static class ClsactFilters
{
    /// <summary>Throws <see cref="NetlinkException"/> when the kernel cannot say.</summary>
    public static bool AnyOn(int ifindex)
    {
        using var socket = NetlinkSocket.Open(NETLINK_ROUTE);
        return Count(socket, ifindex, TC_H_CLSACT_INGRESS) + Count(socket, ifindex, TC_H_CLSACT_EGRESS) > 0;
    }

    /// <summary>Reads the dump to its end: one RTM_NEWTFILTER per filter (and per filter kind and priority).</summary>
    private static int Count(NetlinkSocket socket, int ifindex, uint parent)
    {
        var request = new NetlinkRequest(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP).Put(new tcmsg { tcm_ifindex = ifindex, tcm_parent = parent });
        var filters = 0;
        socket.Request(request, "list the tc filters", (type, _) =>
        {
            if (type == RTM_NEWTFILTER)
            {
                filters++;
            }
        });
        return filters;
    }
}
