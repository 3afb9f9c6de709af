using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>
        /// A netlink socket of the network namespace it was opened in, and the one reader of what the kernel sends
        /// on it: the replies to a request (to the end of a dump, to an acknowledgement, or the one answer), or,
        /// once it joined multicast groups, notifications. It walks the messages of each datagram 4-byte aligned,
        /// skips replies to an earlier request that failed half way (their sequence number), grows its buffer for
        /// a datagram larger than it, and refuses to read past a message cut short. Each message reaches the handler
        /// as its type and the bytes after its header. One thread at a time.
        /// </summary>
        internal sealed unsafe class NetlinkSocket : IDisposable
        {
            // Dumps arrive in parts of up to 32 KiB each; a notification burst fills several reads.
            private const int DefaultBufferSize = 64 * 1024;

            private readonly int _fd;
            private byte[] _buffer;
            private uint _sequence;
            private int _closed;

            private NetlinkSocket(int fd, int bufferSize)
            {
                _fd = fd;
                _buffer = new byte[bufferSize];
            }

            public delegate void MessageHandler(ushort type, ReadOnlySpan<byte> body);

            /// <summary>The descriptor, for tests that ask for its port id.</summary>
            public int Fd => _fd;

            /// <summary>
            /// Opens a socket of <paramref name="protocol"/> (NETLINK_ROUTE, NETLINK_GENERIC); with
            /// <paramref name="groups"/> (RTMGRP_*), one that receives those notifications. A smaller
            /// <paramref name="bufferSize"/> than the default only makes it grow sooner.
            /// </summary>
            public static NetlinkSocket Open(int protocol, uint groups = 0, int bufferSize = DefaultBufferSize)
            {
                var fd = Libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
                if (fd < 0)
                {
                    throw NetlinkException.For("cannot open a netlink socket", Marshal.GetLastPInvokeError());
                }
                var address = new sockaddr_nl { nl_family = AF_NETLINK, nl_groups = groups };
                if (Libc.bind(fd, &address, (uint)sizeof(sockaddr_nl)) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    Libc.close(fd);
                    throw NetlinkException.For("cannot bind a netlink socket", errno);
                }
                return new NetlinkSocket(fd, bufferSize);
            }

            /// <summary>Joins multicast group <paramref name="group"/> by number (a generic netlink family's, say, which may be past 32).</summary>
            public void JoinGroup(uint group)
            {
                if (Libc.setsockopt(_fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(uint)) != 0)
                {
                    throw NetlinkException.For($"cannot join netlink multicast group {group}", Marshal.GetLastPInvokeError());
                }
            }

            /// <summary>
            /// Sends <paramref name="request"/> and hands each reply message to <paramref name="handler"/> until the
            /// reply ends: NLMSG_DONE for a dump (whose messages need not carry NLM_F_MULTI: the netdev family's do
            /// not), the acknowledgement for NLM_F_ACK, else the one answer (or NLMSG_DONE after a multipart one).
            /// Throws <see cref="NetlinkException"/> with <see cref="NetlinkException.Refused"/> and the errno when the
            /// kernel refuses it (<paramref name="purpose"/> says what it was for: "list the tc filters").
            /// </summary>
            public void Request(NetlinkRequest request, string purpose, MessageHandler handler)
            {
                var sequence = ++_sequence;
                var message = request.Seal(sequence);
                fixed (byte* start = message)
                {
                    if (Libc.send(_fd, start, (nuint)message.Length, 0) < 0)
                    {
                        throw NetlinkException.For($"cannot ask the kernel to {purpose}", Marshal.GetLastPInvokeError());
                    }
                }
                var dump = (request.Flags & NLM_F_DUMP) == NLM_F_DUMP;
                var acked = (request.Flags & NLM_F_ACK) != 0;
                var multipart = false;
                while (true)
                {
                    var length = Receive(0, purpose);
                    foreach (var (header, body) in new Messages(_buffer.AsSpan(0, length), purpose))
                    {
                        if (header.nlmsg_seq != sequence || header.nlmsg_type == NLMSG_NOOP)
                        {
                            // The rest of a reply to an earlier request that failed half way: not this one's.
                            continue;
                        }
                        switch (header.nlmsg_type)
                        {
                            case NLMSG_ERROR:
                                // struct nlmsgerr: the negative errno, then the request's header; 0 acknowledges.
                                var error = body.Length >= sizeof(int) ? -MemoryMarshal.Read<int>(body) : throw Truncated(purpose);
                                if (error != 0)
                                {
                                    throw NetlinkException.For($"the kernel refused to {purpose}", error, refused: true);
                                }
                                return;
                            case NLMSG_DONE:
                                // A dump that failed part way says so here, as a negative errno.
                                if (body.Length >= sizeof(int) && MemoryMarshal.Read<int>(body) < 0)
                                {
                                    throw NetlinkException.For($"the kernel refused to {purpose}", -MemoryMarshal.Read<int>(body), refused: true);
                                }
                                // A dump is never acknowledged; another multipart answer may be, after its end.
                                if (dump || !acked)
                                {
                                    return;
                                }
                                break;
                            default:
                                handler(header.nlmsg_type, body);
                                multipart |= (header.nlmsg_flags & NLM_F_MULTI) != 0;
                                if (!dump && !acked && !multipart)
                                {
                                    return;
                                }
                                break;
                        }
                    }
                }
            }

            /// <summary>
            /// Waits up to <paramref name="timeoutMilliseconds"/> for notifications and hands each message of the
            /// next datagram to <paramref name="handler"/>; false when none came. Throws on ENOBUFS: the kernel dropped
            /// notifications because this socket fell behind, so what it follows must be read again from the start.
            /// </summary>
            public bool ReceiveNotifications(int timeoutMilliseconds, MessageHandler handler)
            {
                var poll = new Libc.pollfd { fd = _fd, events = Libc.POLLIN };
                if (Libc.poll(&poll, 1, timeoutMilliseconds) <= 0)
                {
                    return false;
                }
                const string purpose = "read notifications";
                var length = Receive(Libc.MSG_DONTWAIT, purpose);
                if (length < 0)
                {
                    return false;
                }
                foreach (var (header, body) in new Messages(_buffer.AsSpan(0, length), purpose))
                {
                    if (header.nlmsg_type != NLMSG_NOOP)
                    {
                        handler(header.nlmsg_type, body);
                    }
                }
                return true;
            }

            /// <summary>Closes the descriptor once: a second close could hit a descriptor opened since under the same number.</summary>
            public void Dispose()
            {
                if (Interlocked.Exchange(ref _closed, 1) == 0)
                {
                    Libc.close(_fd);
                }
            }

            /// <summary>
            /// One datagram of messages, whole: its size is peeked first (MSG_PEEK | MSG_TRUNC report it without
            /// taking it) and the buffer grown to hold it. -1 when a non-blocking read found none.
            /// </summary>
            private int Receive(int flags, string purpose)
            {
                var size = Read(null, 0, flags | Libc.MSG_PEEK | Libc.MSG_TRUNC, purpose);
                if (size < 0)
                {
                    return -1;
                }
                if (size > _buffer.Length)
                {
                    _buffer = new byte[NLMSG_ALIGN(size)];
                }
                fixed (byte* start = _buffer)
                {
                    // MSG_TRUNC again: a datagram that still did not fit reports its whole size, and is refused below.
                    var length = Read(start, _buffer.Length, flags | Libc.MSG_TRUNC, purpose);
                    return length > _buffer.Length ? throw Truncated(purpose) : length;
                }
            }

            private int Read(byte* start, int capacity, int flags, string purpose)
            {
                while (true)
                {
                    var length = Libc.recvfrom(_fd, start, (nuint)capacity, flags, null, null);
                    if (length >= 0)
                    {
                        return (int)length;
                    }
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }
                    if (errno == Libc.EAGAIN && (flags & Libc.MSG_DONTWAIT) != 0)
                    {
                        return -1;
                    }
                    throw NetlinkException.For(errno == Libc.ENOBUFS
                        ? $"the kernel dropped netlink messages this socket could not take in time (while asked to {purpose})"
                        : $"cannot read from a netlink socket (while asked to {purpose})", errno);
                }
            }

            private static NetlinkException Truncated(string purpose) =>
                NetlinkException.For($"a netlink message was cut short (while asked to {purpose})", Libc.EPROTO);

            private readonly ref struct Message(nlmsghdr header, ReadOnlySpan<byte> body)
            {
                private readonly nlmsghdr _header = header;
                private readonly ReadOnlySpan<byte> _body = body;

                public void Deconstruct(out nlmsghdr header, out ReadOnlySpan<byte> body)
                {
                    header = _header;
                    body = _body;
                }
            }

            /// <summary>The messages of one datagram, each checked to lie whole inside it.</summary>
            private ref struct Messages(ReadOnlySpan<byte> datagram, string purpose)
            {
                private readonly ReadOnlySpan<byte> _datagram = datagram;
                private int _next;

                public Message Current { get; private set; }

                public readonly Messages GetEnumerator() => this;

                public bool MoveNext()
                {
                    if (_next >= _datagram.Length)
                    {
                        return false;
                    }
                    if (_next + sizeof(nlmsghdr) > _datagram.Length)
                    {
                        throw Truncated(purpose);
                    }
                    var header = MemoryMarshal.Read<nlmsghdr>(_datagram[_next..]);
                    var length = (int)header.nlmsg_len;
                    if (length < sizeof(nlmsghdr) || _next + length > _datagram.Length)
                    {
                        throw Truncated(purpose);
                    }
                    Current = new Message(header, _datagram.Slice(_next + sizeof(nlmsghdr), length - sizeof(nlmsghdr)));
                    _next += NLMSG_ALIGN(length);
                    return true;
                }
            }
        }
    }
}
