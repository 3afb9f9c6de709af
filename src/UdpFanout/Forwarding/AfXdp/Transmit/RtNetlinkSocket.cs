using System.Runtime.InteropServices;
using static Interop.Netlink;

namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>
/// A NETLINK_ROUTE socket of the network namespace it was opened in: requests with their replies (a dump, a
/// route lookup), or, bound to multicast groups, the kernel's change notifications. Each message reaches the
/// handler as its type and the bytes after its header.
/// </summary>
internal sealed unsafe class RtNetlinkSocket : IDisposable
{
    // Dumps arrive in parts of up to a page or so each; a notification burst fills several reads.
    private const int BufferSize = 64 * 1024;

    private readonly int _fd;
    private readonly byte[] _buffer = new byte[BufferSize];
    private uint _sequence;

    private RtNetlinkSocket(int fd) => _fd = fd;

    public delegate void MessageHandler(ushort type, ReadOnlySpan<byte> body);

    private delegate void HeaderHandler(nlmsghdr header, ReadOnlySpan<byte> body);

    /// <summary>Opens a socket; with <paramref name="groups"/> (RTMGRP_*), one that receives those notifications.</summary>
    public static RtNetlinkSocket Open(uint groups)
    {
        var fd = Interop.Libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
        {
            throw Failure("cannot open a netlink socket", Marshal.GetLastPInvokeError());
        }
        var address = new sockaddr_nl { nl_family = AF_NETLINK, nl_groups = groups };
        if (Interop.Libc.bind(fd, &address, (uint)sizeof(sockaddr_nl)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Interop.Libc.close(fd);
            throw Failure("cannot bind a netlink socket to the neighbour and route groups", errno);
        }
        return new RtNetlinkSocket(fd);
    }

    public int Fd => _fd;

    /// <summary>
    /// Sends <paramref name="request"/> (an nlmsghdr and its body, whose sequence number this sets) and hands each
    /// reply message to <paramref name="handler"/> until the reply ends: NLMSG_DONE for a dump, the one answer
    /// otherwise. Returns 0, or the errno of an NLMSG_ERROR reply (a lookup with no route, say).
    /// </summary>
    public int Request(Span<byte> request, bool dump, MessageHandler handler)
    {
        var sequence = ++_sequence;
        fixed (byte* start = request)
        {
            ((nlmsghdr*)start)->nlmsg_seq = sequence;
            if (Interop.Libc.send(_fd, start, (nuint)request.Length, 0) < 0)
            {
                throw Failure("cannot send a netlink request", Marshal.GetLastPInvokeError());
            }
        }
        while (true)
        {
            var length = Receive(0);
            var done = false;
            var error = 0;
            Parse(length, (header, body) =>
            {
                if (header.nlmsg_seq != sequence)
                {
                    // The reply to an earlier request that failed half way: not this one's.
                    return;
                }
                switch (header.nlmsg_type)
                {
                    case NLMSG_DONE:
                        done = true;
                        break;
                    case NLMSG_ERROR:
                        error = body.Length >= 4 ? -MemoryMarshal.Read<int>(body) : 0;
                        done = true;
                        break;
                    default:
                        handler(header.nlmsg_type, body);
                        done |= !dump;
                        break;
                }
            });
            if (done)
            {
                return error;
            }
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> for notifications and hands each to
    /// <paramref name="handler"/>; false when none came. Throws on ENOBUFS: the kernel dropped notifications
    /// because this socket fell behind, so what it follows must be read again from the start.
    /// </summary>
    public bool ReceiveNotifications(int timeoutMilliseconds, MessageHandler handler)
    {
        var poll = new Interop.Libc.pollfd { fd = _fd, events = Interop.Libc.POLLIN };
        if (Interop.Libc.poll(&poll, 1, timeoutMilliseconds) <= 0)
        {
            return false;
        }
        var length = Receive(Interop.Libc.MSG_DONTWAIT);
        if (length < 0)
        {
            return false;
        }
        Parse(length, (header, body) => handler(header.nlmsg_type, body));
        return true;
    }

    public void Dispose() => Interop.Libc.close(_fd);

    /// <summary>One datagram of messages; -1 when a non-blocking read found none.</summary>
    private int Receive(int flags)
    {
        fixed (byte* start = _buffer)
        {
            while (true)
            {
                var length = Interop.Libc.recvfrom(_fd, start, (nuint)_buffer.Length, flags, null, null);
                if (length >= 0)
                {
                    return (int)length;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Interop.Libc.EINTR)
                {
                    continue;
                }
                if (errno == Interop.Libc.EAGAIN && flags != 0)
                {
                    return -1;
                }
                throw Failure("cannot read from a netlink socket", errno);
            }
        }
    }

    private void Parse(int length, HeaderHandler each)
    {
        var data = _buffer.AsSpan(0, length);
        for (var offset = 0; offset + sizeof(nlmsghdr) <= length;)
        {
            var header = MemoryMarshal.Read<nlmsghdr>(data[offset..]);
            var messageLength = (int)header.nlmsg_len;
            if (messageLength < sizeof(nlmsghdr) || offset + messageLength > length)
            {
                return;
            }
            each(header, data.Slice(offset + sizeof(nlmsghdr), messageLength - sizeof(nlmsghdr)));
            offset += (messageLength + 3) & ~3;
        }
    }

    private static ForwarderException Failure(string what, int errno) => new($"{what}: {Interop.Libc.StrError(errno)}");
}
