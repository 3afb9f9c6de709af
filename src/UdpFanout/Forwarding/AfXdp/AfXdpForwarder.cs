using System.Net;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.AfXdp.Transmit;
using UdpFanout.Forwarding.RawSend;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Forwarding.Xdp;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tuning;
using static Interop.Fanout;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// The af_xdp mode: an XDP program steers the listener's UDP into one AF_XDP socket per RX queue, a forwarder
/// thread per queue sends each frame for a downstream on the listener's own segment back out of its TX ring
/// (rewritten in place, the client's address kept), the other payloads on with sendmmsg, and everything else the
/// program passes to the kernel. Which downstreams are on the segment, and their MACs, the kernel's routes and
/// neighbour table say (<see cref="SegmentFollower"/>).
/// Fragments reach a one-worker userspace forwarder bound to the listener's address, through the same set.
/// Received counts frames taken from the RX rings, frames the kernel dropped for the AF_XDP sockets (their
/// XDP_STATISTICS, as xsk_rx_ring_full and xsk_rx_dropped drops) and what the fallback received.
/// </summary>
internal sealed partial class AfXdpForwarder : IListenerForwarder
{
    /// <summary>What the program passes to the stack on purpose, for the fallback socket, by its reason label (as tc_ebpf's).</summary>
    private static readonly (fanout_xdp_stat Stat, string Reason)[] PassedToStackReasons =
    [
        (fanout_xdp_stat.FANOUT_XDP_PASS_FRAGMENT, "fragment"),
        (fanout_xdp_stat.FANOUT_XDP_PASS_EXTENSION_HEADER, "extension_header"),
    ];

    private readonly ListenerConfig _config;
    private readonly ILogger _logger;
    private readonly UserspaceForwarder _fallback;
    private readonly FileDescriptorStore _store;
    private readonly List<(XskSocket Socket, AfXdpQueueWorker Worker)> _queues = [];
    private BpfObject? _object;
    private XdpChainSlot? _attachment;
    private SegmentFollower? _segment;
    // Taken by ReadStats and by the part of DisposeAsync that closes sockets and maps, so a scrape never reads them closed.
    private readonly Lock _closing = new();
    private ListenerStats? _final;
    // Whether this run's XSKMAP is in the store (from the start on, until the stop has taken every socket out of it).
    private bool _xskMapKept;
    private long _xskMapReleaseFailures;

    public AfXdpForwarder(ListenerConfig config, ILoggerFactory loggers, FileDescriptorStore store)
    {
        _config = config;
        _logger = loggers.CreateLogger<AfXdpForwarder>();
        _fallback = UserspaceForwarder.FragmentFallback(config, loggers, store);
        _store = store;
        DataPlane = new ListenerDataPlane(config, _logger);
    }

    public string Name => _config.Name;

    /// <summary>The set, policy and counters the queue workers share (the fallback has its own, of the same set).</summary>
    public ListenerDataPlane DataPlane { get; }

    /// <summary>The test seam that makes the fallback worker's next batch fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault FallbackFault => _fallback.Fault;

    /// <summary>Which downstreams leave from the TX rings, and the neighbours it knows; null before the start. Tests wait on it.</summary>
    public SegmentFollower? Segment => _segment;

    /// <summary>The test seam that makes one queue forwarder's next batch fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault { get; } = new();

    public async Task StartAsync(DownstreamSet initial, CancellationToken cancellationToken)
    {
        var (iface, ifindex) = ListenerInterface.Resolve(_config);
        var available = RxQueueCount(iface);
        var queues = _config.Queues ?? available;
        if (queues > available)
        {
            throw new ForwarderException($"listener '{_config.Name}': queues: {queues}, but {iface} has {available} RX queue(s) (lower queues:, or raise the channel count with tuning:)");
        }
        var frameSize = FrameSizeFor(iface);
        var sourceMac = HardwareAddressOf(iface);
        DataPlane.Update(initial);
        try
        {
            // The interface's XDP slot is shared with its other listeners: this program gets a place in its chain.
            _attachment = InterfaceXdpChain.Join(ifindex, iface, _config.Name, _config.XdpMode, _store, warning => LogWarning(_logger, _config.Name, warning));
            // The program redirects by the receiving queue's index, so the XSKMAP needs a slot for every queue
            // the interface has, however many that is.
            _object = ListenerObject.Load(XDP_OBJECT, _config.Bind, obj =>
            {
                obj.Map(XDP_MAP_XSKS).SetMaxEntries((uint)available);
                obj.ReuseMap(XDP_MAP_CHAIN, _attachment.ChainMapFd);
            }, xdpChainSlot: _attachment.Slot);
            var xsks = _object.Map(XDP_MAP_XSKS);
            // Frames on the TX ring keep the client's address, so only a listener that asks for that uses the ring.
            _segment = _config.PreserveSource ? new SegmentFollower(ifindex, DataPlane, _config.Name, _logger) : null;
            // After a crash, the dead process's map, which the kept sockets would otherwise hold in the kernel.
            using var previousMap = KeptXskMap.TakePrevious(_store, _config.Name);
            for (var queue = 0; queue < queues; queue++)
            {
                // Under systemd the socket of the listener's last run, with what its RX ring still holds.
                var socket = KeptXskSockets.OpenOrAdopt(_store, _config.Name, ifindex, queue, frameSize, _logger);
                if (previousMap?.Remove(queue, socket) is { } error)
                {
                    // Never fatal: the socket works, the old map only costs memory until the unit stops.
                    Interlocked.Increment(ref _xskMapReleaseFailures);
                    KeptXskMap.LogReleaseFailed(_logger, _config.Name, queue, previousMap.Id, error);
                }
                IDatagramSender sender;
                try
                {
                    // Any address: the route picks the source on the downstream's network, as before (or the
                    // client's, with preserve_source).
                    sender = DatagramSenders.Open(_config, IPAddress.Any, _logger);
                }
                catch
                {
                    KeptXskSockets.Return(_store, _config.Name, queue, socket);
                    throw;
                }
                _queues.Add((socket, new AfXdpQueueWorker(socket, queue, DataPlane, _segment, sourceMac, Fault, _config.Name, sender, _config.BatchSize, _logger)));
            }
            KeptXskMap.Replace(_store, _config.Name, previousMap, xsks.Fd);
            _xskMapKept = true;
            var xsksId = KeptXskMap.IdOf(xsks.Fd);
            foreach (var (socket, worker) in _queues)
            {
                socket.MarkInserted(xsksId);
                xsks.Update((uint)worker.Queue, socket.Fd);
            }
            await _fallback.StartAsync(initial, cancellationToken);
            _segment?.Start();
            _attachment.Fill(_object.ProgramFd(XDP_PROGRAM));
        }
        catch (BpfException e)
        {
            throw new ForwarderException($"listener '{_config.Name}': {e.Message}", e);
        }
        foreach (var (_, worker) in _queues)
        {
            worker.Start();
        }
        LogAttached(_logger, _config.Name, iface, XdpModeLabel, queues, BindModeLabel);
    }

    public void UpdateDownstreams(DownstreamSet set)
    {
        DataPlane.Update(set);
        _segment?.Refresh();
        _fallback.UpdateDownstreams(set);
    }

    /// <summary>The counters; after <see cref="DisposeAsync"/>, the last ones read before the sockets and maps closed.</summary>
    public ListenerStats ReadStats()
    {
        lock (_closing)
        {
            return _final ?? ReadLiveStats();
        }
    }

    /// <summary>"native" or "skb": how the program attached, as the log line and the attached gauge say it.</summary>
    private string XdpModeLabel => _attachment!.Native ? "native" : "skb";

    /// <summary>"zero-copy" or "copy": how the AF_XDP sockets bound (all alike: the driver decides, not the queue).</summary>
    private string BindModeLabel => _queues[0].Socket.ZeroCopy ? "zero-copy" : "copy";

    private ListenerStats ReadLiveStats()
    {
        var fallback = _fallback.ReadStats();
        var stats = new StatsBuilder().Add(fallback).Add(ModeCounter.FallbackReceived(fallback));
        long rxEmpty = 0, fillFull = 0, parseErrors = 0, restarts = 0, neighbourMisses = 0, wakeupErrors = 0, sourceNotKept = 0;
        foreach (var (_, worker) in _queues)
        {
            stats.Add(worker.Counters);
            sourceNotKept += Volatile.Read(ref worker.Counters.SourceNotKept);
            rxEmpty += worker.RxRingEmpty;
            fillFull += worker.FillRingFull;
            parseErrors += worker.ParseErrors;
            restarts += worker.Restarts;
            neighbourMisses += worker.Transmitter.NeighbourMisses;
            wakeupErrors += worker.Transmitter.WakeupErrors;
            var xdp = worker.Statistics;
            // Frames the kernel dropped for the socket were the listener's datagrams, received and not forwarded.
            var ringFull = (long)xdp.rx_ring_full;
            var otherwise = (long)(xdp.rx_dropped + xdp.rx_invalid_descs);
            stats.AddReceived(ringFull + otherwise, 0)
                .AddDropped(DropReason.XskRxRingFull, ringFull)
                .AddDropped(DropReason.XskRxDropped, otherwise);
            KeyValuePair<string, string>[] queue = [new("queue", worker.Queue.ToString())];
            stats.Add(new ModeCounter("afxdp_rx_frames_total", "Frames this queue's forwarder took from its RX ring.", Volatile.Read(ref worker.Counters.Received), queue))
                .Add(new ModeCounter("afxdp_rx_dropped_total", "Frames the kernel dropped for this queue's socket (XDP_STATISTICS).", (long)xdp.rx_dropped, queue))
                .Add(new ModeCounter("afxdp_rx_ring_full_total", "Frames dropped because the RX ring was full (XDP_STATISTICS).", (long)xdp.rx_ring_full, queue))
                .Add(new ModeCounter("afxdp_rx_fill_ring_empty_descs_total", "Times the fill ring was empty when a frame arrived (XDP_STATISTICS).", (long)xdp.rx_fill_ring_empty_descs, queue))
                .Add(new ModeCounter("afxdp_tx_invalid_descs_total", "Invalid TX descriptors (XDP_STATISTICS).", (long)xdp.tx_invalid_descs, queue))
                .Add(new ModeCounter("afxdp_tx_frames_total", "Frames this queue's forwarder rewrote for a downstream on the listener's segment and put on its TX ring.", worker.Transmitter.Frames, queue))
                .Add(new ModeCounter("afxdp_tx_ring_empty_descs_total", "Times the kernel found this queue's TX ring empty when woken to send (XDP_STATISTICS).", (long)xdp.tx_ring_empty_descs, queue));
        }
        stats.Add(new ModeCounter("afxdp_rx_ring_empty_total", "Times a queue forwarder found its RX ring empty and waited.", rxEmpty))
            .Add(new ModeCounter("afxdp_fill_ring_full_total", "Times a queue forwarder found no room to return frames to the fill ring.", fillFull))
            .Add(new ModeCounter("afxdp_parse_errors_total", "Frames whose Ethernet/IPv4/UDP headers did not parse.", parseErrors))
            .Add(new ModeCounter("afxdp_tx_neighbour_miss_total", "Datagrams to a downstream on the listener's segment sent through the kernel because its neighbour entry was missing or not reachable.", neighbourMisses))
            .Add(new ModeCounter("afxdp_tx_wakeup_errors_total", "Times waking the kernel to send from a TX ring failed for another reason than a busy device.", wakeupErrors))
            .Add(new ModeCounter("afxdp_netlink_failures_total", "Times following the kernel's neighbours and routes failed and started over with a fresh dump.", _segment?.Failures ?? 0))
            .Add(new ModeCounter("afxdp_xskmap_release_failures_total", "Kept AF_XDP sockets this start could not take out of the crashed previous process's XSKMAP (that map stays in the kernel until the unit stops).", Interlocked.Read(ref _xskMapReleaseFailures)))
            // Adds to the fallback's, which came with its stats.
            .Add(ModeCounter.WorkerRestarts(restarts));
        if (_config.PreserveSource)
        {
            // Adds to the fallback's, like the restarts.
            stats.Add(ModeCounter.SourceNotKept(sourceNotKept));
        }
        if (_object is not null)
        {
            foreach (var (stat, reason) in PassedToStackReasons)
            {
                var passed = _object.Map(XDP_MAP_STATS).LookupPerCpu<fanout_counter>((uint)stat).Aggregate(0UL, (a, c) => a + c.packets);
                stats.Add(new ModeCounter("afxdp_passed_to_stack_total", "Datagrams the XDP program passed to the kernel for the fallback socket, by reason.", (long)passed, [new("reason", reason)]));
            }
        }
        // Not once detached (the final counts are read after that): the series goes with the program.
        if (_attachment is { Attached: true })
        {
            // Operators tell native from generic XDP by this as well as by the log line and ip link (issue 17).
            stats.Add(new ModeInfo("afxdp_attached", "1 while the listener's XDP program is attached; xdp_mode native or skb (generic), bind_mode of its AF_XDP sockets zero-copy or copy.",
                [new("xdp_mode", XdpModeLabel), new("bind_mode", BindModeLabel)]));
        }
        DataPlane.AddTo(stats);
        return stats.Build();
    }

    public void ForgetDownstreams(IReadOnlyCollection<Downstream> gone)
    {
        DataPlane.Forget(gone);
        _fallback.ForgetDownstreams(gone);
    }

    /// <summary>Stops or resumes taking frames from every RX ring (see <see cref="AfXdpQueueWorker.Paused"/>).</summary>
    public void PauseQueueForwarders(bool paused)
    {
        foreach (var (_, worker) in _queues)
        {
            worker.Paused = paused;
        }
    }

    /// <summary>Stops or resumes waking the kernel to send what waits on every TX ring (see <see cref="XskTransmitter.Held"/>).</summary>
    public void HoldTxRings(bool held)
    {
        foreach (var (_, worker) in _queues)
        {
            worker.Transmitter.Held = held;
        }
    }

    private DisposeOnce _disposed;

    public async ValueTask DisposeAsync()
    {
        if (!_disposed.First())
        {
            return;
        }
        // Out of the interface's XDP chain first, so its traffic returns to the kernel (and the listener's to the
        // fallback socket, which under systemd the next process takes over) before the workers empty their RX rings
        // and the sockets go. The chain's link stays attached in the store under systemd: nothing is detached.
        if (_attachment is not null)
        {
            StopPath.Step(_logger, _config.Name, "taking the XDP program out of the interface's chain", _attachment.Dispose);
        }
        foreach (var (_, worker) in _queues)
        {
            StopPath.Step(_logger, _config.Name, $"stopping the forwarder of queue {worker.Queue}", worker.Dispose);
        }
        if (_segment is not null)
        {
            StopPath.Step(_logger, _config.Name, "stopping the neighbour and route follower", _segment.Dispose);
        }
        StopPath.Step(_logger, _config.Name, "stopping the IPv6 source follower", DataPlane.Dispose);
        await StopPath.StepAsync(_logger, _config.Name, "stopping the fallback socket", _fallback.DisposeAsync);
        lock (_closing)
        {
            // Nothing is forwarded any more: these are the final counts, read while sockets and maps are still open.
            StopPath.Step(_logger, _config.Name, "reading the final counters", () => _final = ReadLiveStats());
            _final ??= _fallback.ReadStats();
            var allOut = true;
            foreach (var (socket, worker) in _queues)
            {
                StopPath.Step(_logger, _config.Name, $"giving back the AF_XDP socket of queue {worker.Queue}", () =>
                {
                    // Out of this program's XSKMAP first: a socket holds every map it is in, so a kept one would
                    // keep each old program's map in the kernel for as long as systemd keeps the socket.
                    allOut &= _object?.Map(XDP_MAP_XSKS).TryDelete((uint)worker.Queue) ?? false;
                    KeptXskSockets.Return(_store, _config.Name, worker.Queue, socket);
                });
            }
            if (_xskMapKept && allOut)
            {
                // Its sockets are out: the next start has nothing to take out of it.
                StopPath.Step(_logger, _config.Name, "removing the XSKMAP from systemd's store", () => _store.Forget(KeptXskMap.Name(_config.Name)));
            }
            StopPath.Step(_logger, _config.Name, "closing the XDP program", () => _object?.Dispose());
            _object = null;
        }
        if (_attachment is not null)
        {
            LogDetached(_logger, _config.Name, _config.Interface ?? "");
        }
    }

    /// <summary>The UMEM frame size that holds whole frames of the interface's MTU, or a refusal that says what to change.</summary>
    private int FrameSizeFor(string iface)
    {
        int mtu;
        try
        {
            using var device = new NetDevice(iface);
            mtu = device.Mtu;
        }
        catch (TuningException e)
        {
            throw new ForwarderException($"listener '{_config.Name}': {e.Message}", e);
        }
        return UmemFrameSize.For(mtu) ?? throw new ForwarderException(
            $"listener '{_config.Name}': {iface} has MTU {mtu}, but {UmemFrameSize.MaxMtuReason}: "
            + $"lower the MTU to {UmemFrameSize.MaxMtu} or less (tuning: mtu), or use mode tc_ebpf or userspace");
    }

    /// <summary>The interface's MAC address, the source of the frames the TX rings send.</summary>
    private byte[] HardwareAddressOf(string iface)
    {
        try
        {
            using var device = new NetDevice(iface);
            return device.HardwareAddress;
        }
        catch (TuningException e)
        {
            throw new ForwarderException($"listener '{_config.Name}': {e.Message}", e);
        }
    }

    /// <summary>RX queues from the driver's channel counts (in this network namespace), else from sysfs, else one.</summary>
    private static int RxQueueCount(string iface)
    {
        try
        {
            using var device = new NetDevice(iface);
            var channels = device.ReadChannels();
            var count = (int)(channels.rx_count + channels.combined_count);
            if (count > 0)
            {
                return count;
            }
        }
        catch (TuningException)
        {
            // The driver has no channel settings; sysfs still lists the queues.
        }
        var queues = $"/sys/class/net/{iface}/queues";
        return Directory.Exists(queues) ? Math.Max(1, Directory.GetDirectories(queues, "rx-*").Length) : 1;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: XDP program attached to {Interface} ({XdpMode} mode), {Queues} queue forwarder(s), AF_XDP {BindMode} mode")]
    private static partial void LogAttached(ILogger logger, string listener, string @interface, string xdpMode, int queues, string bindMode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: {Warning}")]
    private static partial void LogWarning(ILogger logger, string listener, string warning);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: XDP program detached from {Interface}")]
    private static partial void LogDetached(ILogger logger, string listener, string @interface);
}
