using System.Buffers.Binary;
using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// Sends datagrams with the client's source address and port (<c>preserve_source</c>): each goes out on a raw
/// socket behind IPv4 and UDP headers built here (<see cref="Ipv4UdpHeaders"/>), the payload sent from where it lies
/// (a receive buffer, a UMEM frame) as the second iovec, the batch in one sendmmsg as without the option. A datagram
/// larger than its route's MTU is cut into fragments (<see cref="FragmentBatch"/>), which the kernel does not do for
/// IP_HDRINCL packets. What cannot go is counted: a full socket or device queue as send_buffer_full, any other
/// refusal (no route, a firewall rule) as send_error. ICMP errors for these datagrams go to the client, whose address
/// they carry, so none come back here.
/// <para>
/// This sender takes an IPv4 client (also one of a dual-stack socket, as ::ffff:a.b.c.d) sent to an IPv4 downstream;
/// everything else goes to the sender it is given for the rest (<see cref="Raw6Sender"/>: IPv6 to IPv6 with the
/// client's address, other pairs from the proxy's).
/// </para>
/// </summary>
internal sealed unsafe class RawSender : IDatagramSender
{
    private const int HeaderSlot = 32;

    private readonly RawSocket _socket;
    private readonly IDatagramSender _rest;
    private readonly DownstreamMtus _mtus = new();
    private readonly DownstreamTally _tally = new();
    private readonly FragmentBatch _fragments = new();
    private readonly mmsghdr* _hdr;
    private readonly iovec* _iov;
    private readonly byte* _headers;
    private readonly sockaddr_in* _addr;
    private readonly Datagram* _datagrams;
    private readonly Datagram* _oversize;
    private int _count;
    private int _oversizeCount;
    private ushort _nextId = (ushort)Random.Shared.Next();
    // The set of the send under way, whose tallies Abandon hands to its counters.
    private ActiveDownstreams? _sending;

    /// <summary>Takes ownership of <paramref name="socket"/> and <paramref name="rest"/>.</summary>
    /// <param name="rest">Sends what is not IPv4 to IPv4.</param>
    public RawSender(RawSocket socket, IDatagramSender rest, int capacity)
    {
        _socket = socket;
        _rest = rest;
        _hdr = (mmsghdr*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(mmsghdr));
        _iov = (iovec*)NativeMemory.AllocZeroed((nuint)capacity * 2, (nuint)sizeof(iovec));
        _headers = (byte*)NativeMemory.AllocZeroed((nuint)capacity, HeaderSlot);
        _addr = (sockaddr_in*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(sockaddr_in));
        _datagrams = (Datagram*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(Datagram));
        _oversize = (Datagram*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(Datagram));
    }

    public void Add(void* payload, uint length, in sockaddr_inet source, int target, ActiveDownstreams downstreams)
    {
        if (!TryIpv4(source, out var sourceAddress) || downstreams.Addresses[target].family != AF_INET)
        {
            _rest.Add(payload, length, source, target, downstreams);
            return;
        }
        var sourcePort = source.port;
        var datagram = new Datagram { Payload = (byte*)payload, Length = (int)length, Source = sourceAddress, SourcePort = sourcePort, Target = target, Id = NextId() };
        var destination = downstreams.Addresses[target].v4;
        var total = Ipv4UdpHeaders.Length + (int)length;
        if (total > _mtus.For(downstreams, target, total))
        {
            _oversize[_oversizeCount++] = datagram;
            return;
        }
        var i = _count++;
        _datagrams[i] = datagram;
        _addr[i] = destination;
        var header = _headers + i * HeaderSlot;
        var headers = new Span<byte>(header, Ipv4UdpHeaders.Length);
        Ipv4UdpHeaders.WriteIpv4(headers, sourceAddress, destination.sin_addr, datagram.Id, total, 0, false);
        Ipv4UdpHeaders.WriteUdp(headers[Ipv4UdpHeaders.Ipv4Length..], sourceAddress, sourcePort, destination.sin_addr, destination.sin_port, new ReadOnlySpan<byte>(payload, (int)length));
        _iov[2 * i] = new iovec { iov_base = header, iov_len = Ipv4UdpHeaders.Length };
        _iov[2 * i + 1] = new iovec { iov_base = payload, iov_len = length };
        ref var h = ref _hdr[i].msg_hdr;
        h.msg_name = _addr + i;
        h.msg_namelen = (uint)sizeof(sockaddr_in);
        h.msg_iov = _iov + 2 * i;
        h.msg_iovlen = 2;
    }

    public void Send(ActiveDownstreams downstreams, WorkerCounters counters)
    {
        _tally.Fit(downstreams.Count);
        _sending = downstreams;
        _rest.Send(downstreams, counters);
        var offset = 0;
        while (offset < _count)
        {
            var sent = sendmmsg(_socket.Fd, _hdr + offset, (uint)(_count - offset), MSG_DONTWAIT);
            if (sent > 0)
            {
                for (var i = offset; i < offset + sent; i++)
                {
                    Forwarded(_datagrams[i], counters);
                }
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
                // The socket or device queue is full: this batch's remaining datagrams cannot go now.
                counters.Dropped[(int)DropReason.SendBufferFull] += _count - offset;
                break;
            }
            if (errno == EMSGSIZE)
            {
                // Larger than the device's MTU though it fitted the route's as last asked: the MTU went down since.
                var target = _datagrams[offset].Target;
                _mtus.Refresh(downstreams, target);
                _oversize[_oversizeCount++] = _datagrams[offset++];
                continue;
            }
            // Refused on its own account (no route, a firewall rule): skip it, keep the rest of the batch.
            counters.Dropped[(int)DropReason.SendError]++;
            offset++;
        }
        for (var i = 0; i < _oversizeCount; i++)
        {
            SendFragmented(_oversize[i], downstreams, counters);
        }
        _tally.MoveTo(downstreams);
        _sending = null;
        _count = 0;
        _oversizeCount = 0;
    }

    public void Abandon()
    {
        _rest.Abandon();
        if (_sending is { } downstreams)
        {
            _tally.MoveTo(downstreams);
            _sending = null;
        }
        _count = 0;
        _oversizeCount = 0;
    }

    /// <summary>
    /// Only the errors of what the rest sent from the proxy's address: ICMP errors about the raw datagrams are
    /// addressed to the client, not to the proxy.
    /// </summary>
    public void ReadErrors(ActiveDownstreams downstreams) => _rest.ReadErrors(downstreams);

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        _socket.Dispose();
        _rest.Dispose();
        _mtus.Dispose();
        _fragments.Dispose();
        NativeMemory.Free(_hdr);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_addr);
        NativeMemory.Free(_datagrams);
        NativeMemory.Free(_oversize);
    }

    /// <summary>
    /// The client's IPv4 address in network byte order: of an IPv4 socket's sender, or of an IPv4 client of a
    /// dual-stack socket, which arrives as ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2) and must get an IPv4 header.
    /// </summary>
    private static bool TryIpv4(in sockaddr_inet source, out uint address)
    {
        if (source.family == AF_INET)
        {
            address = source.v4.sin_addr;
            return true;
        }
        fixed (byte* bytes = source.v6.sin6_addr)
        {
            var v6 = new ReadOnlySpan<byte>(bytes, 16);
            address = BinaryPrimitives.ReadUInt32LittleEndian(v6[12..]);
            return BinaryPrimitives.ReadUInt64LittleEndian(v6) == 0 && BinaryPrimitives.ReadUInt32BigEndian(v6[8..]) == 0x0000FFFF;
        }
    }

    /// <summary>
    /// The next IP ID, never 0: the kernel gives an IP_HDRINCL packet whose ID is 0 one of its own, per packet, so the
    /// fragments of one datagram would carry different IDs and never reassemble.
    /// </summary>
    private ushort NextId()
    {
        if (++_nextId == 0)
        {
            _nextId = 1;
        }
        return _nextId;
    }

    private void SendFragmented(in Datagram datagram, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        var mtu = _mtus.For(downstreams, datagram.Target, int.MaxValue);
        if (Ipv4Fragments.Count(datagram.Length, mtu) < 2)
        {
            // The route says it fits and the device refused it whole: nothing smaller to cut it into.
            counters.Dropped[(int)DropReason.SendError]++;
            return;
        }
        if (_fragments.TrySend(_socket.Fd, datagram.Payload, datagram.Length, datagram.Source, datagram.SourcePort, downstreams.Addresses[datagram.Target].v4, datagram.Id, mtu, out var failure))
        {
            Forwarded(datagram, counters);
        }
        else
        {
            counters.Dropped[(int)failure]++;
        }
    }

    private void Forwarded(in Datagram datagram, WorkerCounters counters)
    {
        _tally.Add(datagram.Target, datagram.Length);
        counters.Forwarded++;
        counters.ForwardedBytes += datagram.Length;
    }

    /// <summary>One queued datagram: where its payload lies and what its headers need.</summary>
    private struct Datagram
    {
        public byte* Payload;
        public int Length;
        public uint Source;
        public ushort SourcePort;
        public ushort Id;
        public int Target;
    }
}
