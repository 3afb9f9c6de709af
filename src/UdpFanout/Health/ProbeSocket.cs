using System.Net.Sockets;
using System.Runtime.InteropServices;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// A long-lived socket that sends probes and reads replies in batches (sendmmsg, recvmmsg), for every downstream
/// of a listener at once. The protocols differ only in what a probe's bytes are, how a reply is read and what
/// "from the probed address" means. Buffers are native and allocated once; nothing here allocates per probe.
/// One thread (the checker's loop) uses a socket.
/// </summary>
internal abstract unsafe class ProbeSocket : IDisposable
{
    public const int Batch = 64;
    private const int SendSlot = 64;
    // A raw ICMP socket hands over the IP header too (at most 60 bytes) before the 24 bytes of an echo reply.
    private const int ReceiveSlot = 128;

    private readonly Socket _socket;
    private readonly mmsghdr* _send;
    private readonly iovec* _sendIov;
    private readonly sockaddr_in* _sendTo;
    private readonly byte* _sendBytes;
    private readonly mmsghdr* _receive;
    private readonly iovec* _receiveIov;
    private readonly sockaddr_in* _receiveFrom;
    private readonly byte* _receiveBytes;

    protected ProbeSocket(Socket socket)
    {
        _socket = socket;
        Fd = (int)socket.Handle;
        _send = (mmsghdr*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(mmsghdr));
        _sendIov = (iovec*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(iovec));
        _sendTo = (sockaddr_in*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(sockaddr_in));
        _sendBytes = (byte*)NativeMemory.AllocZeroed(Batch, SendSlot);
        _receive = (mmsghdr*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(mmsghdr));
        _receiveIov = (iovec*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(iovec));
        _receiveFrom = (sockaddr_in*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(sockaddr_in));
        _receiveBytes = (byte*)NativeMemory.AllocZeroed(Batch, ReceiveSlot);
    }

    public int Fd { get; }

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
        for (var start = 0; start < probes.Length; start += Batch)
        {
            var chunk = probes.Slice(start, Math.Min(Batch, probes.Length - start));
            for (var i = 0; i < chunk.Length; i++)
            {
                _sendTo[i] = chunk[i].Destination;
                _sendIov[i] = new iovec { iov_base = _sendBytes + i * SendSlot, iov_len = (nuint)WriteProbe(_sendBytes + i * SendSlot, chunk[i]) };
                ref var h = ref _send[i].msg_hdr;
                h.msg_name = _sendTo + i;
                h.msg_namelen = (uint)sizeof(sockaddr_in);
                h.msg_iov = _sendIov + i;
                h.msg_iovlen = 1;
                chunk[i].Sent = false;
            }
            var offset = 0;
            while (offset < chunk.Length)
            {
                var sent = sendmmsg(Fd, _send + offset, (uint)(chunk.Length - offset), MSG_DONTWAIT);
                if (sent > 0)
                {
                    for (var i = offset; i < offset + sent; i++)
                    {
                        chunk[i].Sent = true;
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

    /// <summary>
    /// Reads what is queued now, without waiting, into <paramref name="replies"/> (at most <see cref="Batch"/>);
    /// returns how many well-formed replies it read, and through <paramref name="more"/> whether more may be queued.
    /// </summary>
    public int Receive(Span<ProbeReply> replies, out bool more)
    {
        var capacity = Math.Min(Batch, replies.Length);
        for (var i = 0; i < capacity; i++)
        {
            _receiveIov[i] = new iovec { iov_base = _receiveBytes + i * ReceiveSlot, iov_len = ReceiveSlot };
            ref var h = ref _receive[i].msg_hdr;
            h.msg_name = _receiveFrom + i;
            h.msg_namelen = (uint)sizeof(sockaddr_in);
            h.msg_iov = _receiveIov + i;
            h.msg_iovlen = 1;
            h.msg_flags = 0;
        }
        int read;
        do
        {
            read = recvmmsg(Fd, _receive, (uint)capacity, MSG_DONTWAIT, null);
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

    public void Dispose()
    {
        _socket.Dispose();
        NativeMemory.Free(_send);
        NativeMemory.Free(_sendIov);
        NativeMemory.Free(_sendTo);
        NativeMemory.Free(_sendBytes);
        NativeMemory.Free(_receive);
        NativeMemory.Free(_receiveIov);
        NativeMemory.Free(_receiveFrom);
        NativeMemory.Free(_receiveBytes);
    }

    /// <summary>Writes the probe's datagram (at most 64 bytes) at <paramref name="slot"/>; returns its length.</summary>
    protected abstract int WriteProbe(byte* slot, in OutgoingProbe probe);

    /// <summary>Reads a datagram as a reply; false for anything else that arrived.</summary>
    protected abstract bool TryReadReply(ReadOnlySpan<byte> datagram, in sockaddr_in from, out ProbeReply reply);

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
}
