using System.Runtime.InteropServices;
using System.Text;
using UdpFanout.Bpf;
using static Interop.Netlink;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// The interfaces of the calling thread's network namespace that can transmit XDP frames redirected to them right
/// now, as the kernel's netdev family reports them (xdp-features with NDO_XMIT, what <c>ynl</c> and
/// <c>ethtool</c> show). It changes while the system runs: a veth takes redirected frames only while its peer has an
/// XDP program or GRO, so the caller asks again from time to time. A redirect to any other interface is dropped
/// by the kernel after the program returned, past what the program can see. The socket is opened once, in the
/// namespace of the thread that opens it, and keeps asking about that namespace whichever thread asks later.
/// </summary>
internal sealed unsafe class XdpTransmitters : IDisposable
{
    private readonly int _fd;
    private readonly ushort _family;

    private XdpTransmitters(int fd, ushort family)
    {
        _fd = fd;
        _family = family;
    }

    public static XdpTransmitters Open()
    {
        var fd = Interop.Libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
        if (fd < 0)
        {
            throw BpfException.For("cannot open a generic netlink socket to read XDP features", Marshal.GetLastPInvokeError());
        }
        try
        {
            return new XdpTransmitters(fd, FamilyId(fd));
        }
        catch
        {
            Interop.Libc.close(fd);
            throw;
        }
    }

    /// <summary>The indexes of the interfaces that take redirected XDP frames now. One caller at a time.</summary>
    public HashSet<int> Read()
    {
        var found = new HashSet<int>();
        Request(_fd, _family, NETDEV_CMD_DEV_GET, NLM_F_REQUEST | NLM_F_DUMP, []);
        ReadReplies(_fd, _family, dump: true, attributes =>
        {
            if (attributes.TryGetValue(NETDEV_A_DEV_IFINDEX, out var index) && attributes.TryGetValue(NETDEV_A_DEV_XDP_FEATURES, out var features)
                && (BitConverter.ToUInt64(features) & NETDEV_XDP_ACT_NDO_XMIT) != 0)
            {
                found.Add(BitConverter.ToInt32(index));
            }
        });
        return found;
    }

    public void Dispose() => Interop.Libc.close(_fd);

    /// <summary>The netdev family's id; kernels before 6.3 have no such family and cannot say (ENOENT).</summary>
    private static ushort FamilyId(int fd)
    {
        var name = Encoding.ASCII.GetBytes(NETDEV_FAMILY_NAME + "\0");
        Request(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_REQUEST, [(CTRL_ATTR_FAMILY_NAME, name)]);
        ushort? id = null;
        ReadReplies(fd, GENL_ID_CTRL, dump: false, attributes =>
        {
            if (attributes.TryGetValue(CTRL_ATTR_FAMILY_ID, out var value))
            {
                id = BitConverter.ToUInt16(value);
            }
        });
        return id ?? throw new BpfException("the kernel's netdev netlink family has no id", Interop.Libc.ENOENT);
    }

    private static void Request(int fd, ushort family, byte command, ushort flags, (ushort Type, byte[] Value)[] attributes)
    {
        var length = sizeof(nlmsghdr) + sizeof(genlmsghdr) + attributes.Sum(a => Align(sizeof(nlattr) + a.Value.Length));
        var message = new byte[length];
        fixed (byte* start = message)
        {
            *(nlmsghdr*)start = new nlmsghdr { nlmsg_len = (uint)length, nlmsg_type = family, nlmsg_flags = flags, nlmsg_seq = 1 };
            *(genlmsghdr*)(start + sizeof(nlmsghdr)) = new genlmsghdr { cmd = command, version = 1 };
            var offset = sizeof(nlmsghdr) + sizeof(genlmsghdr);
            foreach (var (type, value) in attributes)
            {
                *(nlattr*)(start + offset) = new nlattr { nla_len = (ushort)(sizeof(nlattr) + value.Length), nla_type = type };
                value.CopyTo(message, offset + sizeof(nlattr));
                offset += Align(sizeof(nlattr) + value.Length);
            }
            if (Interop.Libc.send(fd, start, (nuint)length, 0) < 0)
            {
                throw BpfException.For("cannot send a generic netlink request", Marshal.GetLastPInvokeError());
            }
        }
    }

    /// <summary>
    /// Reads replies to their end, handing each one's attributes on: NLMSG_DONE ends a dump (whose replies need not
    /// carry NLM_F_MULTI: the netdev family's do not), the one reply any other request.
    /// </summary>
    private static void ReadReplies(int fd, ushort family, bool dump, Action<Dictionary<ushort, byte[]>> onReply)
    {
        var buffer = new byte[64 * 1024];
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
                    throw BpfException.For("cannot read a generic netlink reply", errno);
                }
                for (var offset = 0; offset + sizeof(nlmsghdr) <= length;)
                {
                    var header = (nlmsghdr*)(start + offset);
                    if (header->nlmsg_type == NLMSG_DONE)
                    {
                        return;
                    }
                    if (header->nlmsg_type == NLMSG_ERROR)
                    {
                        var error = -*(int*)(header + 1);
                        if (error != 0)
                        {
                            throw BpfException.For("the kernel refused a generic netlink request", error);
                        }
                        return;
                    }
                    if (header->nlmsg_type == family)
                    {
                        onReply(Attributes(start + offset, (int)header->nlmsg_len));
                        if (!dump)
                        {
                            return;
                        }
                    }
                    // Messages are 4-byte aligned; a zero length would loop forever on a corrupt reply.
                    offset += Math.Max(4, Align((int)header->nlmsg_len));
                }
            }
        }
    }

    private static Dictionary<ushort, byte[]> Attributes(byte* message, int length)
    {
        var attributes = new Dictionary<ushort, byte[]>();
        for (var offset = sizeof(nlmsghdr) + sizeof(genlmsghdr); offset + sizeof(nlattr) <= length;)
        {
            var attribute = (nlattr*)(message + offset);
            if (attribute->nla_len < sizeof(nlattr) || offset + attribute->nla_len > length)
            {
                break;
            }
            // The top bits flag nested and byte-order attributes; the type is below them.
            attributes[(ushort)(attribute->nla_type & 0x3FFF)] = new ReadOnlySpan<byte>(message + offset + sizeof(nlattr), attribute->nla_len - sizeof(nlattr)).ToArray();
            offset += Align(attribute->nla_len);
        }
        return attributes;
    }

    private static int Align(int length) => (length + 3) & ~3;
}
