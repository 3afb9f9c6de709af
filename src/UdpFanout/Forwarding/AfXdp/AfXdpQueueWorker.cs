using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Forwarding.AfXdp.Transmit;
using UdpFanout.Model;
using static Interop.Libc;
using static Interop.Xdp;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// The forwarder of one RX queue: takes frames from its socket's RX ring, parses them, and picks each UDP payload's
/// downstream with the listener's policy. With preserve_source, a frame for a downstream on the listener's own
/// segment is rewritten in place and leaves from the TX ring (<see cref="XskTransmitter"/>), to come back through the
/// completion ring; the other payloads go out with sendmmsg straight out of UMEM through its own sender (a socket of
/// its own, or a raw one that keeps the client's source address), and their frames back to the fill ring at once.
/// Nothing here allocates, locks or logs per datagram.
/// The loop survives its own failure (<see cref="WorkerLoop"/>).
/// </summary>
internal sealed unsafe class AfXdpQueueWorker : IDisposable
{
    // poll() does not always wake on new RX frames (seen on veth in copy mode), so the sleep stays short enough
    // for the RX ring to absorb the gap: 8192 frames outlast 10 ms below 800k frames/s.
    private const int PollMilliseconds = 10;
    private const int SpinsBeforeSleep = 200;
    /// <summary>How long a stopping worker goes on emptying its RX ring: a full ring takes a few milliseconds.</summary>
    private const int DrainMilliseconds = 200;

    private readonly XskSocket _socket;
    private readonly ListenerDataPlane _dataPlane;
    private readonly InjectedFault _fault;
    private readonly IDatagramSender _sender;
    private readonly int _batch;
    private readonly BatchGate _gate = new();
    private readonly Thread _thread;
    private readonly int* _payloadOffset;
    private readonly int* _payloadLength;
    private readonly ulong* _sources;
    private readonly sockaddr_inet* _clients;
    private readonly int* _targets;
    private readonly TxVerdict* _verdicts;
    private readonly SegmentFollower? _segment;
    private readonly XskTransmitter _transmitter;
    private readonly Lock _statisticsGate = new();
    private readonly WorkerLoop _loop;
    private volatile bool _paused;
    // The RX descriptors of the batch under way that are not yet on their way back to the fill ring: after a
    // failure they go back, or the RX ring would hand them out again and the fill ring would lose their frames.
    private uint _unrecycledFirst;
    private int _unrecycledCount;
    private ActiveDownstreams? _batchDownstreams;
    private xdp_statistics? _finalStatistics;
    private long _rxRingEmpty;
    private long _fillRingFull;
    private long _parseErrors;

    /// <summary>Takes ownership of <paramref name="sender"/>; <paramref name="socket"/> stays the caller's.</summary>
    /// <param name="segment">Null unless the listener keeps the client's address: the TX ring always keeps it.</param>
    public AfXdpQueueWorker(XskSocket socket, int queue, ListenerDataPlane dataPlane, SegmentFollower? segment, ReadOnlySpan<byte> sourceMac, InjectedFault fault, string listener, IDatagramSender sender, int batch, ILogger logger)
    {
        _segment = segment;
        _transmitter = new XskTransmitter(socket, sourceMac);
        _socket = socket;
        _dataPlane = dataPlane;
        _fault = fault;
        _sender = sender;
        _batch = batch;
        Queue = queue;
        _payloadOffset = (int*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)batch, sizeof(int));
        _payloadLength = (int*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)batch, sizeof(int));
        _sources = (ulong*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)batch, sizeof(ulong));
        _clients = (sockaddr_inet*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)batch, (nuint)sizeof(sockaddr_inet));
        _targets = (int*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)batch, sizeof(int));
        _verdicts = (TxVerdict*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)batch, sizeof(TxVerdict));
        var name = $"{listener}/q{queue}";
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _loop = new WorkerLoop(listener, name, logger);
        dataPlane.Join(_gate, _thread);
    }

    public int Queue { get; }

    public WorkerCounters Counters { get; } = new();

    public long RxRingEmpty => Volatile.Read(ref _rxRingEmpty);

    public long FillRingFull => Volatile.Read(ref _fillRingFull);

    public long ParseErrors => Volatile.Read(ref _parseErrors);

    /// <summary>The TX ring's counters: frames sent from it, neighbour misses, failed wake-ups.</summary>
    public XskTransmitter Transmitter => _transmitter;

    /// <summary>How often this forwarder's loop failed and started again.</summary>
    public long Restarts => _loop.Restarts;

    /// <summary>The socket's XDP_STATISTICS; after <see cref="Dispose"/>, the last reading before the socket closed.</summary>
    public xdp_statistics Statistics
    {
        get
        {
            lock (_statisticsGate)
            {
                return _finalStatistics ?? _socket.Statistics();
            }
        }
    }

    /// <summary>
    /// While true the forwarder takes no frames from its RX ring, as a stalled one would, so the kernel drops what
    /// the ring cannot hold: how a test overflows the ring for real to prove those drops are accounted for.
    /// </summary>
    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    public void Start() => _thread.Start();

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        _loop.Stop();
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
        lock (_statisticsGate)
        {
            // The caller closes the socket next, and its counters go with it.
            _finalStatistics ??= _socket.Statistics();
        }
        _sender.Dispose();
        System.Runtime.InteropServices.NativeMemory.Free(_payloadOffset);
        System.Runtime.InteropServices.NativeMemory.Free(_payloadLength);
        System.Runtime.InteropServices.NativeMemory.Free(_sources);
        System.Runtime.InteropServices.NativeMemory.Free(_clients);
        System.Runtime.InteropServices.NativeMemory.Free(_targets);
        System.Runtime.InteropServices.NativeMemory.Free(_verdicts);
    }

    private void Run() => _loop.Run(ForwardUntilStopped, DropUnfinishedBatch);

    private void ForwardUntilStopped()
    {
        var rx = _socket.Rx;
        var poll = new pollfd { fd = _socket.Fd, events = POLLIN };
        long drainDeadline = 0;
        var settled = false;
        while (true)
        {
            if (_loop.Stopping)
            {
                // Frames that keep coming (a program that failed to detach) must not hold the stop up.
                drainDeadline = drainDeadline == 0 ? Environment.TickCount64 + DrainMilliseconds : drainDeadline;
                if (Environment.TickCount64 > drainDeadline)
                {
                    break;
                }
            }
            if (_paused)
            {
                if (_loop.Stopping)
                {
                    break;
                }
                Thread.Sleep(1);
                continue;
            }
            // Sent frames back to the fill ring first, so the kernel has them for what arrives next.
            _transmitter.ReturnCompleted();
            var available = rx.Available(out var first);
            if (available == 0)
            {
                // No batch to send them with: what waits on the TX ring goes now, before the spin or the stop.
                _transmitter.Wake();
            }
            // A short spin before sleeping: at steady rates the next frame is usually microseconds away, and a
            // poll() sleep and wake-up per handful of frames costs more than the frames themselves.
            for (var spin = 0; available == 0 && !_loop.Stopping && spin < SpinsBeforeSleep; spin++)
            {
                Thread.SpinWait(20);
                available = rx.Available(out first);
            }
            if (available == 0)
            {
                // Stops only once the RX ring is empty: the program leaves the chain before the workers stop, so
                // nothing more arrives, and what it redirected before is forwarded instead of lost with the ring
                // (under systemd the next process gets everything after that through the kept fallback socket).
                if (_loop.Stopping)
                {
                    if (settled)
                    {
                        break;
                    }
                    // A frame the program redirected on another CPU just before its slot emptied reaches the ring at
                    // the end of that CPU's NAPI poll, microseconds later: one more look after a pause.
                    settled = true;
                    Thread.Sleep(1);
                    continue;
                }
                Interlocked.Increment(ref _rxRingEmpty);
                // What a busy device left on the TX ring is sent now, not behind the next frame to arrive.
                _transmitter.Wake();
                // While traffic flows, a queued ICMP error fails the next send, which reads it; while none does, this does.
                _sender.ReadErrors(_dataPlane.Active);
                _socket.WakeIfNeeded();
                if (_transmitter.Held)
                {
                    // poll() would send the TX ring in copy mode, which the seam says the device does not take.
                    Thread.Sleep(1);
                    continue;
                }
                poll.revents = 0;
                Interop.Libc.poll(&poll, 1, PollMilliseconds);
                continue;
            }
            var count = (int)Math.Min(available, (uint)_batch);
            _unrecycledFirst = first;
            _unrecycledCount = count;
            new Span<TxVerdict>(_verdicts, count).Clear();
            _gate.Enter();
            Forward(first, count, _dataPlane.Active);
            _gate.Exit();
            _unrecycledCount = 0;
            Recycle(first, count);
            settled = false;
        }
    }

    /// <summary>
    /// After a failure: the batch under way ends, its frames go back to the fill ring, and what it did not forward
    /// counts as dropped.
    /// </summary>
    private long DropUnfinishedBatch()
    {
        _sender.Abandon();
        if (_batchDownstreams is { } downstreams)
        {
            // What the batch put on the TX ring is counted forwarded: it goes out, and its frames come back by completion.
            _transmitter.Submit(downstreams);
            _batchDownstreams = null;
        }
        _gate.Exit();
        if (_unrecycledCount > 0)
        {
            var count = _unrecycledCount;
            _unrecycledCount = 0;
            Recycle(_unrecycledFirst, count);
        }
        return Counters.DropUnfinished();
    }

    private void Forward(uint first, int count, ActiveDownstreams downstreams)
    {
        var descriptors = (xdp_desc*)_socket.Rx.Descriptors;
        var counters = Counters;
        // Counted first, so that a failure anywhere in the batch finds it received and counts it dropped.
        counters.Received += count;
        var forwardable = 0;
        long bytes = 0;
        for (var i = 0; i < count; i++)
        {
            var desc = descriptors[_socket.Rx.Slot(first + (uint)i)];
            var frame = new ReadOnlySpan<byte>(_socket.Frame(desc.addr), (int)desc.len);
            if (FrameParser.TryParse(frame, _dataPlane.HashKey, out _payloadOffset[i], out _payloadLength[i], out _sources[forwardable], out _clients[forwardable]) == FrameError.None)
            {
                forwardable++;
                bytes += _payloadLength[i];
            }
            else
            {
                _payloadLength[i] = -1;
            }
        }
        var malformed = count - forwardable;
        counters.ReceivedBytes += bytes;
        counters.Dropped[(int)DropReason.Malformed] += malformed;
        if (malformed > 0)
        {
            Interlocked.Add(ref _parseErrors, malformed);
        }
        if (downstreams.Count == 0)
        {
            counters.Dropped[(int)downstreams.ReasonWhenEmpty] += forwardable;
            return;
        }
        downstreams.Policy.Pick(new ReadOnlySpan<ulong>(_sources, forwardable), new Span<int>(_targets, forwardable));
        // Made for another set a moment after a set change: this batch goes through the kernel.
        var paths = _segment?.Current is { } segment && segment.For == downstreams ? segment.Targets : null;
        _batchDownstreams = downstreams;
        _transmitter.Prepare(downstreams.Count);
        for (int i = 0, n = 0; i < count; i++)
        {
            if (_payloadLength[i] >= 0)
            {
                var desc = descriptors[_socket.Rx.Slot(first + (uint)i)];
                var target = _targets[n];
                if (paths is not null)
                {
                    _verdicts[i] = _transmitter.Offer(desc, _payloadOffset[i] - 8, _payloadLength[i], target, paths[target], downstreams, counters);
                }
                if (_verdicts[i] == TxVerdict.Stack)
                {
                    _sender.Add(_socket.Frame(desc.addr) + _payloadOffset[i], (uint)_payloadLength[i], _clients[n], target, downstreams);
                }
                n++;
            }
        }
        // From here the batch goes out: a process killed now is not followed by one that sends it again.
        _socket.MarkTaken(first + (uint)count);
        _transmitter.Submit(downstreams);
        _batchDownstreams = null;
        _fault.ThrowIfArmed();
        _sender.Send(downstreams, counters);
    }

    /// <summary>
    /// Hands the frames back to the kernel once their payloads have been sent (sendmmsg copied them) or dropped;
    /// those on the TX ring come back through the completion ring instead.
    /// </summary>
    private void Recycle(uint first, int count)
    {
        var fill = _socket.Fill;
        if (fill.Free < (uint)count)
        {
            // Cannot happen while every frame is in the fill, RX, TX or completion ring or this batch; counted if it does.
            Interlocked.Increment(ref _fillRingFull);
        }
        var descriptors = (xdp_desc*)_socket.Rx.Descriptors;
        var fills = (ulong*)fill.Descriptors;
        for (var i = 0; i < count; i++)
        {
            if (_verdicts[i] == TxVerdict.Ring)
            {
                continue;
            }
            var address = descriptors[_socket.Rx.Slot(first + (uint)i)].addr;
            fills[fill.Slot(fill.Reserve())] = address & ~(ulong)(_socket.FrameSize - 1);
        }
        _socket.Rx.Consume((uint)count);
        fill.Submit();
        _socket.WakeIfNeeded();
    }
}
