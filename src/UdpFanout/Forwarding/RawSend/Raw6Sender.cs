using System.Buffers.Binary;
using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// The IPv6 half of <c>preserve_source</c>: an IPv6 client sent to an IPv6 downstream goes out on an IPv6 raw socket
/// behind IPv6 and UDP headers built here (<see cref="Ipv6UdpHeaders"/>) with the client's address and port. A
/// datagram larger than its route's MTU is cut into fragments with a fragment header (<see cref="Ipv6Fragments"/>).
/// Every packet of the batch, whole datagrams and fragments alike, goes in one sendmmsg; a datagram counts as
/// forwarded once all its packets went, as dropped (once) when one did not; one refused as larger than the device's
/// MTU, which went down under the route MTU asked before, is cut at the MTU asked again and sent once more. Anything else, a client and downstream
/// of different families, whose address cannot be put into the other family's header, goes the ordinary way from
/// the proxy's address through the plain sender it is given, counted in <see cref="WorkerCounters.SourceNotKept"/>.
/// </summary>
internal sealed unsafe class Raw6Sender : IDatagramSender
{
    // IPv6, fragment and UDP headers (56 bytes), rounded up to keep them aligned.
    private const int HeaderSlot = 64;

    private readonly RawSocket? _socket;
    private readonly IDatagramSender _plain;
    private readonly DownstreamMtus _mtus = new();
    private readonly DownstreamTally _tally = new();
    private readonly Datagram* _datagrams;
    private readonly sockaddr_in6* _addr;
    private int _capacity;
    private mmsghdr* _hdr;
    private iovec* _iov;
    private byte* _headers;
    private int* _owner;
    private int _count;
    private int _messages;
    private int _plainCount;
    private uint _nextId = (uint)Random.Shared.Next();

    /// <summary>Takes ownership of <paramref name="socket"/> and <paramref name="plain"/>.</summary>
    /// <param name="socket">The IPv6 raw socket; null on a host without IPv6, where every datagram goes plain.</param>
    public Raw6Sender(RawSocket? socket, IDatagramSender plain, int capacity)
    {
        _socket = socket;
        _plain = plain;
        _datagrams = (Datagram*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(Datagram));
        _addr = (sockaddr_in6*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(sockaddr_in6));
        Grow(capacity);
    }

    public void Add(void* payload, uint length, in sockaddr_inet source, int target, ActiveDownstreams downstreams)
    {
        // Copies on the stack, whose fixed address buffers need no pinning.
        var client = source;
        var destination = downstreams.Addresses[target];
        if (_socket is null || client.family != AF_INET6 || destination.family != AF_INET6 || IsIpv4Mapped(client))
        {
            _plain.Add(payload, length, source, target, downstreams);
            _plainCount++;
            return;
        }
        var i = _count++;
        _addr[i] = destination.v6;
        // The raw socket takes the port of its destination as a protocol number: it must be 0 here.
        _addr[i].sin6_port = 0;
        _datagrams[i] = new Datagram
        {
            Payload = (byte*)payload,
            Length = (int)length,
            Target = target,
            SourcePort = client.v6.sin6_port,
            DestinationPort = destination.v6.sin6_port,
        };
        new ReadOnlySpan<byte>(client.v6.sin6_addr, 16).CopyTo(new Span<byte>(_datagrams[i].Source, 16));
        QueuePackets(i, _mtus.For(downstreams, target, Ipv6UdpHeaders.Length + (int)length));
    }

    public void Send(ActiveDownstreams downstreams, WorkerCounters counters)
    {
        counters.SourceNotKept += _plainCount;
        _plainCount = 0;
        _plain.Send(downstreams, counters);
        _tally.Fit(downstreams.Count);
        if (SendRound(downstreams, counters, resend: true))
        {
            // Refused as larger than the device's MTU: cut at the MTU asked again, once.
            _messages = 0;
            for (var i = 0; i < _count; i++)
            {
                if (_datagrams[i].Resend)
                {
                    _datagrams[i].Resend = false;
                    QueuePackets(i, _mtus.For(downstreams, _datagrams[i].Target, 0));
                }
            }
            SendRound(downstreams, counters, resend: false);
        }
        for (var i = 0; i < _count; i++)
        {
            ref readonly var datagram = ref _datagrams[i];
            if (!datagram.Failed)
            {
                _tally.Add(datagram.Target, datagram.Length);
                counters.Forwarded++;
                counters.ForwardedBytes += datagram.Length;
            }
        }
        _tally.MoveTo(downstreams);
        _count = 0;
        _messages = 0;
    }

    /// <summary>The datagrams this sender sent itself are counted only at the end of Send, so none of them is counted yet.</summary>
    public void Abandon()
    {
        _plain.Abandon();
        _plainCount = 0;
        _count = 0;
        _messages = 0;
    }

    /// <summary>
    /// Only the errors of what went from the proxy's address: ICMPv6 errors about the raw datagrams are addressed
    /// to the client, not to the proxy.
    /// </summary>
    public void ReadErrors(ActiveDownstreams downstreams) => _plain.ReadErrors(downstreams);

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        _socket?.Dispose();
        _plain.Dispose();
        _mtus.Dispose();
        NativeMemory.Free(_datagrams);
        NativeMemory.Free(_addr);
        NativeMemory.Free(_hdr);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_owner);
    }

    /// <summary>::ffff:a.b.c.d, an IPv4 client of a dual-stack socket, which only an IPv4 header can carry.</summary>
    private static bool IsIpv4Mapped(sockaddr_inet source)
    {
        var address = new ReadOnlySpan<byte>(source.v6.sin6_addr, 16);
        return BinaryPrimitives.ReadUInt64LittleEndian(address) == 0 && BinaryPrimitives.ReadUInt32BigEndian(address[8..]) == 0x0000FFFF;
    }

    /// <summary>
    /// Sends the queued packets with sendmmsg and counts each datagram whose packet was refused as dropped, once.
    /// With <paramref name="resend"/>, a datagram refused as larger than the device's MTU (which went down under
    /// the value asked) is marked for a second round instead, and the return says whether there is one.
    /// </summary>
    private bool SendRound(ActiveDownstreams downstreams, WorkerCounters counters, bool resend)
    {
        // The pointers are set here, not when queued, as the arrays may have grown since.
        for (var m = 0; m < _messages; m++)
        {
            _iov[2 * m].iov_base = _headers + m * HeaderSlot;
            ref var h = ref _hdr[m].msg_hdr;
            h.msg_name = _addr + _owner[m];
            h.msg_namelen = (uint)sizeof(sockaddr_in6);
            h.msg_iov = _iov + 2 * m;
            h.msg_iovlen = 2;
        }
        var again = false;
        var offset = 0;
        while (offset < _messages)
        {
            var sent = sendmmsg(_socket!.Fd, _hdr + offset, (uint)(_messages - offset), MSG_DONTWAIT);
            if (sent > 0)
            {
                offset += sent;
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
            {
                continue;
            }
            if (errno is EAGAIN or ENOBUFS)
            {
                // The socket or device queue is full: this batch's remaining packets cannot go now.
                for (var m = offset; m < _messages; m++)
                {
                    Fail(_owner[m], DropReason.SendBufferFull, counters);
                }
                break;
            }
            ref var datagram = ref _datagrams[_owner[offset]];
            if (errno == EMSGSIZE)
            {
                _mtus.Refresh(downstreams, datagram.Target);
            }
            if (errno == EMSGSIZE && resend && offset == datagram.FirstMessage)
            {
                datagram.Resend = true;
                again = true;
            }
            else
            {
                // Refused on its own account (no route, a firewall rule), or a fragment after others went: the
                // datagram is lost.
                Fail(_owner[offset], DropReason.SendError, counters);
            }
            offset = datagram.FirstMessage + datagram.Messages;
        }
        return again;
    }

    /// <summary>The packets of datagram <paramref name="index"/>: itself whole when it fits <paramref name="mtu"/>, else its fragments.</summary>
    private void QueuePackets(int index, int mtu)
    {
        var datagram = _datagrams + index;
        var src = new ReadOnlySpan<byte>(datagram->Source, 16);
        var dst = new ReadOnlySpan<byte>(_addr[index].sin6_addr, 16);
        var data = new ReadOnlySpan<byte>(datagram->Payload, datagram->Length);
        var count = Ipv6UdpHeaders.Length + datagram->Length <= mtu ? 1 : Ipv6Fragments.Count(datagram->Length, mtu);
        if (_messages + count > _capacity)
        {
            Grow(Math.Max(_messages + count, 2 * _capacity));
        }
        datagram->FirstMessage = _messages;
        datagram->Messages = count;
        if (count == 1)
        {
            var header = new Span<byte>(_headers + _messages * HeaderSlot, Ipv6UdpHeaders.Length);
            Ipv6UdpHeaders.WriteIpv6(header, src, dst, Ipv6UdpHeaders.UdpLength + datagram->Length, Ipv6UdpHeaders.NextHeaderUdp);
            Ipv6UdpHeaders.WriteUdp(header[Ipv6UdpHeaders.Ipv6Length..], src, datagram->SourcePort, dst, datagram->DestinationPort, data);
            Queue(index, Ipv6UdpHeaders.Length, datagram->Payload, (nuint)datagram->Length);
            return;
        }
        Span<byte> udp = stackalloc byte[Ipv6UdpHeaders.UdpLength];
        Ipv6UdpHeaders.WriteUdp(udp, src, datagram->SourcePort, dst, datagram->DestinationPort, data);
        var id = ++_nextId;
        for (var f = 0; f < count; f++)
        {
            var (headerLength, start, pieceLength) = Ipv6Fragments.Write(
                new Span<byte>(_headers + _messages * HeaderSlot, HeaderSlot), f, datagram->Length, mtu, src, dst, id, udp);
            Queue(index, headerLength, datagram->Payload + start, (nuint)pieceLength);
        }
    }

    private void Queue(int datagram, int headerLength, byte* payload, nuint length)
    {
        var m = _messages++;
        _owner[m] = datagram;
        _iov[2 * m] = new iovec { iov_len = (nuint)headerLength };
        _iov[2 * m + 1] = new iovec { iov_base = payload, iov_len = length };
    }

    private void Fail(int index, DropReason reason, WorkerCounters counters)
    {
        ref var datagram = ref _datagrams[index];
        if (!datagram.Failed)
        {
            datagram.Failed = true;
            counters.Dropped[(int)reason]++;
        }
    }

    /// <summary>Room for <paramref name="messages"/> packets, keeping those queued: only when a batch needs more fragments than any before.</summary>
    private void Grow(int messages)
    {
        _hdr = (mmsghdr*)NativeMemory.Realloc(_hdr, (nuint)messages * (nuint)sizeof(mmsghdr));
        NativeMemory.Clear(_hdr, (nuint)messages * (nuint)sizeof(mmsghdr));
        _iov = (iovec*)NativeMemory.Realloc(_iov, (nuint)messages * 2 * (nuint)sizeof(iovec));
        _headers = (byte*)NativeMemory.Realloc(_headers, (nuint)messages * HeaderSlot);
        _owner = (int*)NativeMemory.Realloc(_owner, (nuint)messages * sizeof(int));
        _capacity = messages;
    }

    /// <summary>One queued datagram: what its headers need, its packets in the batch, whether one failed or it goes again.</summary>
    private struct Datagram
    {
        public byte* Payload;
        public fixed byte Source[16];
        public ushort SourcePort;
        public ushort DestinationPort;
        public bool Resend;
        public int Length;
        public int Target;
        public int FirstMessage;
        public int Messages;
        public bool Failed;
    }
}
