using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding.Userspace;

/// <summary>
/// One worker thread: recvmmsg a batch on its own SO_REUSEPORT socket, pick a downstream for each datagram with
/// the listener's policy (from its source address where the policy asks), sendmmsg the batch from the same
/// buffers through its own sender (a socket of its own, or a raw one that keeps the client's source address). Nothing here allocates, locks or logs per datagram; a send that would
/// block drops the datagram instead of waiting. The loop survives its own failure (<see cref="WorkerLoop"/>).
/// </summary>
internal sealed unsafe partial class UserspaceWorker : IDisposable
{
    private readonly Socket _socket;
    private readonly IDatagramSender _sender;
    private readonly ListenerDataPlane _dataPlane;
    private readonly InjectedFault _fault;
    private readonly int _batch;
    private readonly int _cpu;
    private readonly ILogger _logger;
    private readonly Thread _thread;

    // Native memory, so the kernel can be handed pointers without pinning: per slot a receive buffer, its iovec
    // and a receive header; the sender sends straight from the receive buffers.
    private readonly byte* _buffers;
    private readonly int _bufferSize;
    private readonly iovec* _recvIov;
    private readonly mmsghdr* _recvHdr;
    private readonly sockaddr_inet* _recvFrom;
    private readonly ulong* _sources;
    private readonly int* _targets;
    private readonly BatchGate _gate = new();
    private readonly WorkerLoop _loop;

    /// <summary>Takes ownership of <paramref name="sender"/>; <paramref name="socket"/> stays the caller's.</summary>
    public UserspaceWorker(Socket socket, IDatagramSender sender, ListenerDataPlane dataPlane, InjectedFault fault, string listener, int index, int batch, int maxPacketSize, int cpu, ILogger logger)
    {
        _socket = socket;
        _sender = sender;
        ReceiveDrops = new ReceiveDrops(socket);
        _dataPlane = dataPlane;
        _fault = fault;
        _batch = batch;
        _cpu = cpu;
        _logger = logger;
        _bufferSize = maxPacketSize;
        _buffers = (byte*)NativeMemory.AlignedAlloc((nuint)(_bufferSize * batch), 64);
        _recvIov = Alloc<iovec>(batch);
        _recvHdr = Alloc<mmsghdr>(batch);
        _recvFrom = Alloc<sockaddr_inet>(batch);
        _sources = Alloc<ulong>(batch);
        _targets = Alloc<int>(batch);
        for (var i = 0; i < batch; i++)
        {
            _recvIov[i] = new iovec { iov_base = _buffers + (long)i * _bufferSize, iov_len = (nuint)_bufferSize };
        }
        Counters = new WorkerCounters();
        var name = $"{listener}/w{index}";
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _loop = new WorkerLoop(listener, name, logger);
        dataPlane.Join(_gate, _thread);
    }

    public WorkerCounters Counters { get; }

    /// <summary>What the kernel dropped at this worker's socket; each is a received datagram, dropped.</summary>
    public ReceiveDrops ReceiveDrops { get; }

    /// <summary>How often this worker's loop failed and started again.</summary>
    public long Restarts => _loop.Restarts;

    public void Start() => _thread.Start();

    public void Stop()
    {
        _loop.Stop();
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
    }

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        Stop();
        ReceiveDrops.Close();
        _sender.Dispose();
        NativeMemory.AlignedFree(_buffers);
        NativeMemory.Free(_recvIov);
        NativeMemory.Free(_recvHdr);
        NativeMemory.Free(_recvFrom);
        NativeMemory.Free(_sources);
        NativeMemory.Free(_targets);
    }

    private static T* Alloc<T>(int count) where T : unmanaged => (T*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(T));

    private void Run()
    {
        PinToCpu();
        _loop.Run(ForwardUntilStopped, DropUnfinishedBatch);
    }

    private void ForwardUntilStopped()
    {
        var fd = (int)_socket.Handle;
        while (!_loop.Stopping)
        {
            ResetReceiveHeaders();
            // MSG_TRUNC makes msg_len the datagram's real length even when it did not fit the buffer.
            var received = recvmmsg(fd, _recvHdr, (uint)_batch, MSG_WAITFORONE | MSG_TRUNC, null);
            if (received <= 0)
            {
                // The receive timeout that lets the loop see _stopping. While traffic flows, a queued ICMP error
                // fails the next send, which reads it; while none does, this does.
                _sender.ReadErrors(_dataPlane.Active);
                continue;
            }
            _gate.Enter();
            Forward(received, _dataPlane.Active);
            _gate.Exit();
        }
    }

    /// <summary>After a failure: the batch under way ends, and what it did not forward counts as dropped.</summary>
    private long DropUnfinishedBatch()
    {
        _sender.Abandon();
        _gate.Exit();
        return Counters.DropUnfinished();
    }

    private void ResetReceiveHeaders()
    {
        for (var i = 0; i < _batch; i++)
        {
            ref var h = ref _recvHdr[i];
            h.msg_hdr.msg_iov = _recvIov + i;
            h.msg_hdr.msg_iovlen = 1;
            // The source, for a policy that hashes it; the kernel writes it whether or not one does.
            h.msg_hdr.msg_name = _recvFrom + i;
            h.msg_hdr.msg_namelen = (uint)sizeof(sockaddr_inet);
            h.msg_len = 0;
        }
    }

    private void Forward(int received, ActiveDownstreams downstreams)
    {
        var counters = Counters;
        // Counted first, so that a failure anywhere in the batch finds it received and counts it dropped.
        counters.Received += received;
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
        counters.ReceivedBytes += receivedBytes;
        counters.Dropped[(int)DropReason.Truncated] += received - forwardable;
        if (downstreams.Count == 0)
        {
            counters.Dropped[(int)downstreams.ReasonWhenEmpty] += forwardable;
            return;
        }
        var policy = downstreams.Policy;
        if (policy.UsesSource)
        {
            var hashKey = _dataPlane.HashKey;
            for (int i = 0, n = 0; i < received; i++)
            {
                if (_recvHdr[i].msg_len <= _bufferSize)
                {
                    _sources[n++] = SourceKey(_recvFrom + i, hashKey);
                }
            }
        }
        policy.Pick(new ReadOnlySpan<ulong>(_sources, forwardable), new Span<int>(_targets, forwardable));
        for (int i = 0, n = 0; i < received; i++)
        {
            if (_recvHdr[i].msg_len <= _bufferSize)
            {
                _sender.Add(_recvIov[i].iov_base, _recvHdr[i].msg_len, _recvFrom[i], _targets[n++], downstreams);
            }
        }
        _fault.ThrowIfArmed();
        _sender.Send(downstreams, counters);
    }

    /// <summary>
    /// The source of a received datagram as <see cref="SourceHash"/> keys it. An IPv4 client of a dual-stack
    /// listener on [::] arrives as ::ffff:a.b.c.d and is keyed as the IPv4 address it is, so it goes where it
    /// would go at an IPv4 listener, in every mode.
    /// </summary>
    internal static ulong SourceKey(sockaddr_inet* from, HashKey hashKey)
    {
        var port = BinaryPrimitives.ReverseEndianness(from->port);
        if (from->family != AF_INET6)
        {
            return SourceHash.Key(BinaryPrimitives.ReverseEndianness(from->v4.sin_addr), port, hashKey);
        }
        var address = new ReadOnlySpan<byte>(from->v6.sin6_addr, 16);
        return IsIpv4Mapped(address)
            ? SourceHash.Key(BinaryPrimitives.ReadUInt32BigEndian(address[12..]), port, hashKey)
            : SourceHash.Key(address, port, hashKey);
    }

    /// <summary>::ffff:0:0/96 (RFC 4291 section 2.5.5.2).</summary>
    private static bool IsIpv4Mapped(ReadOnlySpan<byte> address) =>
        BinaryPrimitives.ReadUInt64LittleEndian(address) == 0 && BinaryPrimitives.ReadUInt32BigEndian(address[8..]) == 0x0000FFFF;

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
