using System.Net.Sockets;
using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// Long-lived sockets, one per address family, that send probes and read replies in batches (sendmmsg,
/// recvmmsg), for every downstream of a listener at once, IPv4 and IPv6 alike. The protocols differ only in what a
/// probe's bytes are, how a reply is read and what "from the probed address" means. Buffers are native and
/// allocated once; nothing here allocates per probe. One thread (the checker's loop) uses the sockets.
/// </summary>
internal abstract unsafe class ProbeSocket : IDisposable
{
    public const int Batch = 64;
    private const int SendSlot = 64;
    // A raw ICMP socket hands over the IP header too (at most 60 bytes) before the 24 bytes of an echo reply.
    private const int ReceiveSlot = 128;

    private readonly Socket _v4;
    private readonly Socket? _v6;
    private readonly mmsghdr* _send;
    private readonly iovec* _sendIov;
    private readonly sockaddr_inet* _sendTo;
    private readonly int* _sendIndex;
    private readonly byte* _sendBytes;
    private readonly mmsghdr* _receive;
    private readonly iovec* _receiveIov;
    private readonly sockaddr_inet* _receiveFrom;
    private readonly byte* _receiveBytes;

    /// <param name="v6">Null on a host without IPv6: probes of IPv6 downstreams then fail, as unanswered ones do.</param>
    protected ProbeSocket(Socket v4, Socket? v6)
    {
        _v4 = v4;
        _v6 = v6;
        _send = (mmsghdr*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(mmsghdr));
        _sendIov = (iovec*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(iovec));
        _sendTo = (sockaddr_inet*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(sockaddr_inet));
        _sendIndex = (int*)NativeMemory.AllocZeroed(Batch, sizeof(int));
        _sendBytes = (byte*)NativeMemory.AllocZeroed(Batch, SendSlot);
        _receive = (mmsghdr*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(mmsghdr));
        _receiveIov = (iovec*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(iovec));
        _receiveFrom = (sockaddr_inet*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(sockaddr_inet));
        _receiveBytes = (byte*)NativeMemory.AllocZeroed(Batch, ReceiveSlot);
    }

    /// <summary>ICMP echo carries a sequence number the reply must repeat; UDP echo has none.</summary>
    public abstract bool UsesSequence { get; }

    /// <summary>Whether <paramref name="reply"/>, which carries <paramref name="sent"/>'s token, came from where it went.</summary>
    public abstract bool Matches(in OutgoingProbe sent, in ProbeReply reply);

    /// <summary>
    /// Sends every probe, without blocking, and marks each as sent or not. A probe the kernel refuses on its own
    /// account (no route) is skipped and the rest go on; when the buffer is full the rest of the batch is not sent.
    /// Either way those probes count as failed, as a probe whose reply never comes does.
    /// </summary>
    public void Send(Span<OutgoingProbe> probes)
    {
        foreach (ref var probe in probes)
        {
            probe.Sent = false;
        }
        Send(probes, AF_INET, (int)_v4.Handle);
        if (_v6 is not null)
        {
            Send(probes, AF_INET6, (int)_v6.Handle);
        }
    }

    /// <summary>
    /// Reads what is queued now, without waiting, into <paramref name="replies"/> (at most <see cref="Batch"/>
    /// from each socket); returns how many well-formed replies it read, and through <paramref name="more"/>
    /// whether more may be queued.
    /// </summary>
    public int Receive(Span<ProbeReply> replies, out bool more)
    {
        var count = Receive((int)_v4.Handle, replies, out more);
        if (_v6 is not null && count < replies.Length)
        {
            count += Receive((int)_v6.Handle, replies[count..], out var moreV6);
            more |= moreV6;
        }
        return count;
    }

    /// <summary>Waits up to <paramref name="milliseconds"/> for a reply on either socket.</summary>
    public void WaitReadable(int milliseconds)
    {
        var polls = stackalloc pollfd[2];
        polls[0] = new pollfd { fd = (int)_v4.Handle, events = POLLIN };
        polls[1] = new pollfd { fd = _v6 is null ? -1 : (int)_v6.Handle, events = POLLIN };
        poll(polls, 2, milliseconds);
    }

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        _v4.Dispose();
        _v6?.Dispose();
        NativeMemory.Free(_send);
        NativeMemory.Free(_sendIov);
        NativeMemory.Free(_sendTo);
        NativeMemory.Free(_sendIndex);
        NativeMemory.Free(_sendBytes);
        NativeMemory.Free(_receive);
        NativeMemory.Free(_receiveIov);
        NativeMemory.Free(_receiveFrom);
        NativeMemory.Free(_receiveBytes);
    }

    /// <summary>Writes the probe's datagram (at most 64 bytes) at <paramref name="slot"/>; returns its length.</summary>
    protected abstract int WriteProbe(byte* slot, in OutgoingProbe probe);

    /// <summary>Reads a datagram that arrived from <paramref name="from"/> (of either family) as a reply; false for anything else.</summary>
    protected abstract bool TryReadReply(ReadOnlySpan<byte> datagram, in sockaddr_inet from, out ProbeReply reply);

    /// <summary>
    /// Room for a second of replies from 10,000 downstreams that all answer at once; the FORCE variant passes
    /// net.core.rmem_max with CAP_NET_ADMIN, else the kernel's limit applies and late bursts may cost a probe.
    /// </summary>
    protected static void SizeReceiveBuffer(Socket socket)
    {
        const int bytes = 4 << 20;
        try
        {
            socket.SetRawSocketOption(SOL_SOCKET, SO_RCVBUFFORCE, BitConverter.GetBytes(bytes));
        }
        catch (SocketException)
        {
            socket.SetRawSocketOption(SOL_SOCKET, SO_RCVBUF, BitConverter.GetBytes(bytes));
        }
    }

    /// <summary>
    /// Opens the IPv6 socket with <paramref name="open"/>, or none when the kernel has no IPv6 (booted with
    /// ipv6.disable=1), where no IPv6 downstream can be reached anyway.
    /// </summary>
    protected static Socket? OpenIpv6IfAny(Func<Socket> open)
    {
        try
        {
            return open();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressFamilyNotSupported)
        {
            return null;
        }
    }

    /// <summary>Sends the probes of one family through its socket, in chunks of <see cref="Batch"/>.</summary>
    private void Send(Span<OutgoingProbe> probes, ushort family, int fd)
    {
        var next = 0;
        while (next < probes.Length)
        {
            var count = 0;
            for (; next < probes.Length && count < Batch; next++)
            {
                if (probes[next].Destination.family != family)
                {
                    continue;
                }
                _sendTo[count] = probes[next].Destination;
                _sendIndex[count] = next;
                _sendIov[count] = new iovec { iov_base = _sendBytes + count * SendSlot, iov_len = (nuint)WriteProbe(_sendBytes + count * SendSlot, probes[next]) };
                ref var h = ref _send[count].msg_hdr;
                h.msg_name = _sendTo + count;
                h.msg_namelen = _sendTo[count].Length;
                h.msg_iov = _sendIov + count;
                h.msg_iovlen = 1;
                count++;
            }
            var offset = 0;
            while (offset < count)
            {
                var sent = sendmmsg(fd, _send + offset, (uint)(count - offset), MSG_DONTWAIT);
                if (sent > 0)
                {
                    for (var i = offset; i < offset + sent; i++)
                    {
                        probes[_sendIndex[i]].Sent = true;
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
                    break;
                }
                offset++;
            }
        }
    }

    private int Receive(int fd, Span<ProbeReply> replies, out bool more)
    {
        var capacity = Math.Min(Batch, replies.Length);
        for (var i = 0; i < capacity; i++)
        {
            _receiveIov[i] = new iovec { iov_base = _receiveBytes + i * ReceiveSlot, iov_len = ReceiveSlot };
            ref var h = ref _receive[i].msg_hdr;
            h.msg_name = _receiveFrom + i;
            h.msg_namelen = (uint)sizeof(sockaddr_inet);
            h.msg_iov = _receiveIov + i;
            h.msg_iovlen = 1;
            h.msg_flags = 0;
        }
        int read;
        do
        {
            read = recvmmsg(fd, _receive, (uint)capacity, MSG_DONTWAIT, null);
        }
        while (read < 0 && Marshal.GetLastPInvokeError() == EINTR);
        more = read == capacity;
        var count = 0;
        for (var i = 0; i < read; i++)
        {
            var length = (int)_receive[i].msg_len;
            if ((_receive[i].msg_hdr.msg_flags & MSG_TRUNC) == 0 && TryReadReply(new ReadOnlySpan<byte>(_receiveBytes + i * ReceiveSlot, length), _receiveFrom[i], out replies[count]))
            {
                count++;
            }
        }
        return count;
    }
}
