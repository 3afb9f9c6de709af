using System.Runtime.InteropServices;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// One batch of datagrams on their way out with sendmmsg: each entry points at a payload already in memory (a
/// receive buffer or an AF_XDP frame) and at its downstream's address. Sending never blocks: what would block is
/// dropped and counted. Native memory, allocated once per worker; nothing here allocates per datagram.
/// </summary>
internal sealed unsafe class SendBatch : IDisposable
{
    // Sends of one datagram while ICMP errors for earlier ones keep failing it; bounds the loop under an ICMP flood.
    private const int MaxTries = 8;

    private readonly mmsghdr* _hdr;
    private readonly iovec* _iov;
    private readonly sockaddr_in* _addr;
    private readonly int* _target;
    private long[] _tallyPackets = new long[16];
    private long[] _tallyBytes = new long[16];
    // The set of the send under way, whose tallies Abandon hands to its counters.
    private ActiveDownstreams? _sending;

    public SendBatch(int capacity)
    {
        _hdr = (mmsghdr*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(mmsghdr));
        _iov = (iovec*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(iovec));
        _addr = (sockaddr_in*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(sockaddr_in));
        _target = (int*)NativeMemory.AllocZeroed((nuint)capacity, sizeof(int));
    }

    public int Count { get; private set; }

    /// <summary>Queues <paramref name="length"/> bytes at <paramref name="payload"/> for downstream <paramref name="target"/>.</summary>
    public void Add(void* payload, uint length, int target, ActiveDownstreams downstreams)
    {
        var i = Count++;
        _addr[i] = downstreams.Addresses[target];
        _target[i] = target;
        _iov[i] = new iovec { iov_base = payload, iov_len = length };
        ref var h = ref _hdr[i].msg_hdr;
        h.msg_name = _addr + i;
        h.msg_namelen = (uint)sizeof(sockaddr_in);
        h.msg_iov = _iov + i;
        h.msg_iovlen = 1;
    }

    /// <summary>Sends every queued datagram from <paramref name="socket"/>, counts each as forwarded or dropped, and empties the batch.</summary>
    public void Send(SendSocket socket, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        if (_tallyPackets.Length < downstreams.Count)
        {
            // Only when a larger downstream set arrives, never per datagram.
            _tallyPackets = new long[downstreams.Count];
            _tallyBytes = new long[downstreams.Count];
        }
        _sending = downstreams;
        var queued = Count;
        var offset = 0;
        var failedAt = -1;
        var tries = 0;
        while (offset < queued)
        {
            var sent = sendmmsg(socket.Fd, _hdr + offset, (uint)(queued - offset), MSG_DONTWAIT);
            if (sent > 0)
            {
                for (var i = offset; i < offset + sent; i++)
                {
                    var bytes = (long)_iov[i].iov_len;
                    _tallyPackets[_target[i]]++;
                    _tallyBytes[_target[i]] += bytes;
                    counters.Forwarded++;
                    counters.ForwardedBytes += bytes;
                }
                offset += sent;
                if (offset < queued)
                {
                    // Stopped short: when by an ICMP error for an earlier datagram (sendmmsg reports only the count),
                    // that error is consumed and the next call sends the rest, but its queued report must be read
                    // now: each one takes receive-buffer space until then, and a full buffer loses the next ones.
                    socket.ReadErrors(downstreams);
                }
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
                counters.Dropped[(int)DropReason.SendBufferFull] += queued - offset;
                break;
            }
            // An ICMP error that came back for an earlier datagram, to any downstream, fails the next send once and
            // leaves that datagram unsent: count the queued errors (which clears it) and send it again. Try again
            // while new errors keep arriving in between; a failure with none queued is the datagram's own.
            if (failedAt != offset)
            {
                failedAt = offset;
                tries = 0;
            }
            var errorsRead = socket.ReadErrors(downstreams);
            if (tries++ == 0 || (errorsRead > 0 && tries <= MaxTries))
            {
                continue;
            }
            // The datagram failed on its own account (no route, say): skip it, keep the rest of the batch.
            counters.Dropped[(int)DropReason.SendError]++;
            offset++;
        }
        Tally(downstreams);
        _sending = null;
        Count = 0;
    }

    /// <summary>
    /// Empties the batch of a worker that failed before or while sending it: what was sent stays counted, also per
    /// downstream; the rest is the caller's to count as dropped.
    /// </summary>
    public void Abandon()
    {
        if (_sending is { } downstreams)
        {
            Tally(downstreams);
            _sending = null;
        }
        Count = 0;
    }

    private void Tally(ActiveDownstreams downstreams)
    {
        for (var t = 0; t < downstreams.Count; t++)
        {
            if (_tallyPackets[t] != 0)
            {
                downstreams.Counters[t].Add(_tallyPackets[t], _tallyBytes[t]);
                _tallyPackets[t] = 0;
                _tallyBytes[t] = 0;
            }
        }
    }

    public void Dispose()
    {
        NativeMemory.Free(_hdr);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_addr);
        NativeMemory.Free(_target);
    }
}
