using Microsoft.Extensions.Logging;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Xdp;
using UdpFanout.Systemd;
using static Interop.Fanout;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// A tc_ebpf listener's XDP layer (bpf/tc_fanout_xdp.bpf.c): the tc program's forwarding before an skb exists,
/// in a slot of the interface's XDP chain, on the tc program's own set, position and per-downstream maps. It keeps
/// the list of interfaces that can take XDP frames current, once a second, since a veth's changes with its peer.
/// Native mode only: in generic mode XDP runs on an skb already, so the layer would save nothing.
/// </summary>
internal sealed partial class TcXdpLayer : IDisposable
{
    /// <summary>How often the egress list is read again: a veth whose peer drops its XDP program is sent to for up to this long.</summary>
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private readonly XdpChainSlot _slot;
    private readonly XdpTransmitters _transmitters;
    private readonly BpfObject _object;
    private readonly BpfMap _egress;
    private readonly BpfMap _stats;
    private readonly ILogger _logger;
    private readonly string _listener;
    private readonly Lock _gate = new();
    private readonly Timer _refresh;
    private HashSet<int> _listed = [];
    private bool _refreshFailing;
    private bool _disposed;

    private TcXdpLayer(XdpChainSlot slot, XdpTransmitters transmitters, BpfObject obj, ILogger logger, string listener)
    {
        _slot = slot;
        _transmitters = transmitters;
        _object = obj;
        _egress = obj.Map(TC_XDP_MAP_EGRESS);
        _stats = obj.Map(TC_XDP_MAP_STATS);
        _logger = logger;
        _listener = listener;
        _refresh = new Timer(_ => Refresh(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>
    /// Starts the layer in front of <paramref name="tc"/>, or returns null, having said why once in the log, when the
    /// interface cannot run it natively or its XDP slot belongs to someone else: the tc program then forwards alone.
    /// The interface's XDP link is taken from <paramref name="store"/> when it kept one across a restart.
    /// </summary>
    public static TcXdpLayer? Start(ListenerConfig config, int ifindex, string iface, TcProgram tc, FileDescriptorStore store, ILogger logger)
    {
        if (config.Xdp == XdpLayer.Off)
        {
            return null;
        }
        // The layer forwards IPv4 only and leaves IPv6 to the tc program: on an IPv6-only listener it would take the
        // interface's XDP slot to pass everything on.
        if ((ListenerObject.Listener(config.Bind).families & FANOUT_LISTEN_IPV4) == 0)
        {
            LogTcAlone(logger, config.Name, iface, "it forwards IPv4 only, and this listener receives IPv6 only");
            return null;
        }
        XdpChainSlot slot;
        try
        {
            slot = InterfaceXdpChain.Join(ifindex, iface, XdpAttachMode.Native, store, _ => { });
        }
        catch (BpfException e)
        {
            LogTcAlone(logger, config.Name, iface, e.Message);
            return null;
        }
        XdpTransmitters? transmitters = null;
        BpfObject? obj = null;
        try
        {
            // Opened here, in the listener's namespace: the refresh runs on timer threads, which may be elsewhere.
            transmitters = XdpTransmitters.Open();
            obj = Load(config, tc, slot.ChainMapFd, slot.Slot);
            var layer = new TcXdpLayer(slot, transmitters, obj, logger, config.Name);
            layer.Refresh();
            slot.Fill(obj.ProgramFd(TC_XDP_PROGRAM));
            layer._refresh.Change(RefreshInterval, RefreshInterval);
            return layer;
        }
        catch
        {
            slot.Dispose();
            obj?.Dispose();
            transmitters?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the layer's program on <paramref name="tc"/>'s maps, in slot <paramref name="chainSlot"/> of the chain
    /// whose prog array is <paramref name="chainMapFd"/> (-1: a chain of its own, empty, for BPF_PROG_TEST_RUN).
    /// </summary>
    public static BpfObject Load(ListenerConfig config, TcProgram tc, int chainMapFd, uint chainSlot) =>
        ListenerObject.Load(TC_XDP_OBJECT, config.Bind, o =>
        {
            o.ReuseMap(TC_XDP_MAP_DOWNSTREAM_SETS, tc.MapFd(TC_MAP_DOWNSTREAM_SETS));
            o.ReuseMap(TC_XDP_MAP_RR_POSITION, tc.MapFd(TC_MAP_RR_POSITION));
            o.ReuseMap(TC_XDP_MAP_SLOT_STATS, tc.MapFd(TC_MAP_SLOT_STATS));
            o.ReuseMap(TC_XDP_MAP_TC_STATS, tc.MapFd(TC_MAP_STATS));
            if (chainMapFd >= 0)
            {
                o.ReuseMap(TC_XDP_MAP_CHAIN, chainMapFd);
            }
        }, TcProgram.BalanceOf(config.Balance, config.HashKey), chainSlot);

    /// <summary>The layer's per-verdict counters, summed over CPUs.</summary>
    public (long Packets, long Bytes) Read(fanout_tc_xdp_stat stat)
    {
        var perCpu = _stats.LookupPerCpu<fanout_counter>((uint)stat);
        return ((long)perCpu.Aggregate(0UL, (a, c) => a + c.packets), (long)perCpu.Aggregate(0UL, (a, c) => a + c.bytes));
    }

    /// <summary>Takes the program out of the interface's chain: the interface's frames meet the tc program alone from then on.</summary>
    public void LeaveChain() => _slot.Dispose();

    /// <summary>Leaves the chain if still in it, stops the refresh and closes the program and its maps.</summary>
    public void Dispose()
    {
        _slot.Dispose();
        lock (_gate)
        {
            _disposed = true;
            _refresh.Dispose();
            _object.Dispose();
            _transmitters.Dispose();
        }
    }

    /// <summary>Lists the interfaces that take XDP frames now and forgets those that stopped. Runs on a timer: never throws.</summary>
    private void Refresh()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            try
            {
                var now = _transmitters.Read();
                foreach (var ifindex in _listed.Where(i => !now.Contains(i)))
                {
                    _egress.TryDelete((uint)ifindex);
                }
                foreach (var ifindex in now.Where(i => !_listed.Contains(i)))
                {
                    _egress.Update((uint)ifindex, ifindex);
                }
                _listed = now;
                _refreshFailing = false;
            }
            catch (BpfException e)
            {
                if (!_refreshFailing)
                {
                    LogRefreshFailed(_logger, _listener, e.Message);
                }
                _refreshFailing = true;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: no XDP layer on {Interface}, the tc program forwards alone: {Reason}")]
    private static partial void LogTcAlone(ILogger logger, string listener, string @interface, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: cannot read which interfaces take XDP frames, the XDP layer keeps its last list: {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string listener, string reason);
}
