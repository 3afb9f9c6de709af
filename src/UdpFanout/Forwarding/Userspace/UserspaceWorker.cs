using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using static Interop.Libc;

namespace UdpFanout.Forwarding.Userspace;

/// <summary>
/// One worker thread: recvmmsg a batch on its own SO_REUSEPORT socket, pick a downstream for each datagram from
/// the listener-wide round robin, sendmmsg the batch from the same buffers. Nothing here allocates, locks or logs
/// per datagram; a send that would block drops the datagram instead of waiting.
/// </summary>
internal sealed unsafe partial class UserspaceWorker : IDisposable
{
    private readonly Socket _socket;
    private readonly UserspaceForwarder _owner;
    private readonly int _batch;
    private readonly int _cpu;
    private readonly ILogger _logger;
    private readonly Thread _thread;

    // Native memory, so the kernel can be handed pointers without pinning: per slot a receive buffer, its iovec,
    // a receive header, and on the send side a header and a destination address.
    private readonly byte* _buffers;
    private readonly int _bufferSize;
    private readonly iovec* _recvIov;
    private readonly mmsghdr* _recvHdr;
    private readonly iovec* _sendIov;
    private readonly mmsghdr* _sendHdr;
    private readonly sockaddr_in* _sendAddr;
    private readonly int* _sendTarget;
    private long[] _batchPackets = new long[16];
    private long[] _batchBytes = new long[16];

    private volatile bool _stopping;
    private int _inBatch;
    private long _batchesDone;

    public UserspaceWorker(Socket socket, UserspaceForwarder owner, int index, int batch, int maxPacketSize, int cpu, ILogger logger)
    {
        _socket = socket;
        _owner = owner;
        _batch = batch;
        _cpu = cpu;
        _logger = logger;
        _bufferSize = maxPacketSize;
        _buffers = (byte*)NativeMemory.AlignedAlloc((nuint)(_bufferSize * batch), 64);
        _recvIov = Alloc<iovec>(batch);
        _recvHdr = Alloc<mmsghdr>(batch);
        _sendIov = Alloc<iovec>(batch);
        _sendHdr = Alloc<mmsghdr>(batch);
        _sendAddr = Alloc<sockaddr_in>(batch);
        _sendTarget = Alloc<int>(batch);
        for (var i = 0; i < batch; i++)
        {
            _recvIov[i] = new iovec { iov_base = _buffers + (long)i * _bufferSize, iov_len = (nuint)_bufferSize };
        }
        Counters = new WorkerCounters();
        _thread = new Thread(Run) { IsBackground = true, Name = $"{owner.Name}/w{index}" };
    }

    public WorkerCounters Counters { get; }

    public void Start() => _thread.Start();

    /// <summary>
    /// Returns once this worker is not in the middle of a batch that began before the call, so a batch that
    /// could have read an older downstream set has finished.
    /// </summary>
    public void WaitForBatchBoundary()
    {
        if (Volatile.Read(ref _inBatch) == 0)
        {
            return;
        }
        var seen = Volatile.Read(ref _batchesDone);
        var spin = new SpinWait();
        while (Volatile.Read(ref _inBatch) != 0 && Volatile.Read(ref _batchesDone) == seen && _thread.IsAlive)
        {
            spin.SpinOnce();
        }
    }

    public void Stop()
    {
        _stopping = true;
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
    }

    public void Dispose()
    {
        Stop();
        NativeMemory.AlignedFree(_buffers);
        NativeMemory.Free(_recvIov);
        NativeMemory.Free(_recvHdr);
        NativeMemory.Free(_sendIov);
        NativeMemory.Free(_sendHdr);
        NativeMemory.Free(_sendAddr);
        NativeMemory.Free(_sendTarget);
    }

    private static T* Alloc<T>(int count) where T : unmanaged => (T*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(T));

    private void Run()
    {
        PinToCpu();
        var fd = (int)_socket.Handle;
        while (!_stopping)
        {
            ResetReceiveHeaders();
            // MSG_TRUNC makes msg_len the datagram's real length even when it did not fit the buffer.
            var received = recvmmsg(fd, _recvHdr, (uint)_batch, MSG_WAITFORONE | MSG_TRUNC, null);
            if (received <= 0)
            {
                // EAGAIN is the receive timeout that lets the loop see _stopping; ECONNREFUSED and the like are
                // ICMP errors queued on the socket by a dead downstream: consumed by this call, nothing to do.
                continue;
            }
            // The full fence of the exchange orders this flag before the read of the set (see WaitForBatchBoundary).
            Interlocked.Exchange(ref _inBatch, 1);
            Forward(received, _owner.Active);
            Volatile.Write(ref _batchesDone, _batchesDone + 1);
            Volatile.Write(ref _inBatch, 0);
        }
    }

    private void ResetReceiveHeaders()
    {
        for (var i = 0; i < _batch; i++)
        {
            ref var h = ref _recvHdr[i];
            h.msg_hdr.msg_iov = _recvIov + i;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_len = 0;
        }
    }

    private void Forward(int received, ActiveDownstreams downstreams)
    {
        var counters = Counters;
        var count = downstreams.Count;
        long receivedBytes = 0;
        var forwardable = 0;
        for (var i = 0; i < received; i++)
        {
            receivedBytes += _recvHdr[i].msg_len;
            if (_recvHdr[i].msg_len <= _bufferSize)
            {
                forwardable++;
            }
        }
        counters.Received += received;
        counters.ReceivedBytes += receivedBytes;
        counters.Dropped[(int)DropReason.Truncated] += received - forwardable;
        if (count == 0)
        {
            counters.Dropped[(int)downstreams.ReasonWhenEmpty] += forwardable;
            return;
        }
        EnsureBatchTallies(count);

        var position = _owner.RoundRobin.Reserve(forwardable);
        var queued = 0;
        for (var i = 0; i < received; i++)
        {
            if (_recvHdr[i].msg_len > _bufferSize)
            {
                continue;
            }
            var target = RoundRobin.IndexOf(position++, count);
            _sendAddr[queued] = downstreams.Addresses[target];
            _sendTarget[queued] = target;
            _sendIov[queued] = new iovec { iov_base = _recvIov[i].iov_base, iov_len = _recvHdr[i].msg_len };
            ref var h = ref _sendHdr[queued].msg_hdr;
            h.msg_name = _sendAddr + queued;
            h.msg_namelen = (uint)sizeof(sockaddr_in);
            h.msg_iov = _sendIov + queued;
            h.msg_iovlen = 1;
            queued++;
        }
        Send(queued, downstreams);
    }

    private void Send(int queued, ActiveDownstreams downstreams)
    {
        var counters = Counters;
        var fd = (int)_socket.Handle;
        var offset = 0;
        while (offset < queued)
        {
            var sent = sendmmsg(fd, _sendHdr + offset, (uint)(queued - offset), MSG_DONTWAIT);
            if (sent > 0)
            {
                for (var i = offset; i < offset + sent; i++)
                {
                    var bytes = (long)_sendIov[i].iov_len;
                    _batchPackets[_sendTarget[i]]++;
                    _batchBytes[_sendTarget[i]] += bytes;
                    counters.Forwarded++;
                    counters.ForwardedBytes += bytes;
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
                counters.Dropped[(int)DropReason.SendBufferFull] += queued - offset;
                break;
            }
            // One datagram failed (a downstream's ICMP error, no route): skip it, keep the rest of the batch.
            counters.Dropped[(int)DropReason.SendError]++;
            offset++;
        }
        for (var t = 0; t < downstreams.Count; t++)
        {
            if (_batchPackets[t] != 0)
            {
                downstreams.Counters[t].Add(_batchPackets[t], _batchBytes[t]);
                _batchPackets[t] = 0;
                _batchBytes[t] = 0;
            }
        }
    }

    private void EnsureBatchTallies(int count)
    {
        if (_batchPackets.Length < count)
        {
            // Only when a larger downstream set arrives, never per datagram.
            _batchPackets = new long[count];
            _batchBytes = new long[count];
        }
    }

    private void PinToCpu()
    {
        if (_cpu < 0)
        {
            return;
        }
        var mask = stackalloc ulong[16];
        mask[_cpu / 64] = 1UL << (_cpu % 64);
        if (sched_setaffinity(0, 16 * sizeof(ulong), mask) != 0)
        {
            LogPinFailed(_logger, _thread.Name ?? "", _cpu, StrError(Marshal.GetLastPInvokeError()));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "worker {Worker}: cannot pin to CPU {Cpu}: {Error}; running unpinned")]
    private static partial void LogPinFailed(ILogger logger, string worker, int cpu, string error);
}
