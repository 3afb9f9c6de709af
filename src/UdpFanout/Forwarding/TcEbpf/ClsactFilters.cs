using System.Runtime.InteropServices;
using UdpFanout.Bpf;
using static Interop.Netlink;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// Whether an interface's clsact qdisc still carries filters, asked the way <c>tc filter show</c> asks: an
/// RTM_GETTFILTER dump of each hook. The qdisc belongs to everyone who filters on the interface (other listeners,
/// other tools), so it may only go when nothing is left on it.
/// </summary>
internal static unsafe class ClsactFilters
{
    public static bool AnyOn(int ifindex) => Count(ifindex, TC_H_CLSACT_INGRESS) + Count(ifindex, TC_H_CLSACT_EGRESS) > 0;

    private static int Count(int ifindex, uint parent)
    {
        var fd = Interop.Libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
        {
            throw BpfException.For("cannot open a netlink socket to list tc filters", Marshal.GetLastPInvokeError());
        }
        try
        {
            var request = new DumpRequest
            {
                Header = new nlmsghdr { nlmsg_len = (uint)sizeof(DumpRequest), nlmsg_type = RTM_GETTFILTER, nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, nlmsg_seq = 1 },
                Body = new tcmsg { tcm_ifindex = ifindex, tcm_parent = parent },
            };
            if (Interop.Libc.send(fd, &request, (nuint)sizeof(DumpRequest), 0) < 0)
            {
                throw BpfException.For("cannot ask the kernel for the tc filters", Marshal.GetLastPInvokeError());
            }
            return CountReplies(fd);
        }
        finally
        {
            Interop.Libc.close(fd);
        }
    }

    /// <summary>Reads the dump to its end: one RTM_NEWTFILTER per filter (and per filter kind and priority).</summary>
    private static int CountReplies(int fd)
    {
        var buffer = new byte[32 * 1024];
        var filters = 0;
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var length = Interop.Libc.recvfrom(fd, start, (nuint)buffer.Length, 0, null, null);
                if (length < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Interop.Libc.EINTR)
                    {
                        continue;
                    }
                    throw BpfException.For("cannot read the tc filters", errno);
                }
                for (var offset = 0; offset + sizeof(nlmsghdr) <= length;)
                {
                    var header = (nlmsghdr*)(start + offset);
                    switch (header->nlmsg_type)
                    {
                        case NLMSG_DONE:
                            return filters;
                        case NLMSG_ERROR when *(int*)(header + 1) != 0:
                            throw BpfException.For("the kernel refused to list the tc filters", -*(int*)(header + 1));
                        case RTM_NEWTFILTER:
                            filters++;
                            break;
                    }
                    // Messages are 4-byte aligned; a zero length would loop forever on a corrupt reply.
                    offset += Math.Max(4, (int)((header->nlmsg_len + 3) & ~3u));
                }
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DumpRequest
    {
        public nlmsghdr Header;
        public tcmsg Body;
    }
}
