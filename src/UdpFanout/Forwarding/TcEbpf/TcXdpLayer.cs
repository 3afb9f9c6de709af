using Microsoft.Extensions.Logging;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Xdp;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tuning;
using static Interop.Fanout;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// A tc_ebpf listener's XDP layer (bpf/tc_fanout_xdp.bpf.c): the tc program's forwarding of both families before an
/// skb exists, in a slot of the interface's XDP chain, on the tc program's own set, position and per-downstream
/// maps, with a tracepoint program that counts what its egresses drop at transmit (<see cref="TcXdpTransmitFailures"/>). It keeps
/// the list of interfaces that can take XDP frames current, since a veth's changes with its peer: read whole at the
/// start, and again whenever the kernel reports a device change or lost a notification (a thread waits for them).
/// Native mode only: in generic mode XDP runs on an skb already, so the layer would save nothing.
/// </summary>
internal sealed partial class TcXdpLayer : IDisposable
{
    private readonly XdpChainSlot _slot;
    private readonly XdpTransmitters _transmitters;
    private readonly BpfObject _object;
    private readonly TcXdpTransmitFailures _transmitFailures;
    private readonly BpfMap _egress;
    private readonly BpfMap _stats;
    private readonly KernelFollower _follower;
    // The listener's interface when it is a veth, else 0: never listed as an egress (Refresh says why).
    private readonly int _vethIngress;
    private HashSet<int> _listed = [];
    private long _refreshes;

    private TcXdpLayer(XdpChainSlot slot, XdpTransmitters transmitters, BpfObject obj, TcXdpTransmitFailures transmitFailures, ILogger logger, string listener, int vethIngress)
    {
        _vethIngress = vethIngress;
        _slot = slot;
        _transmitters = transmitters;
        _object = obj;
        _transmitFailures = transmitFailures;
        _egress = obj.Map(TC_XDP_MAP_EGRESS);
        _stats = obj.Map(TC_XDP_MAP_STATS);
        // Any change may matter (an interface gone, XDP attached to a veth's peer): the list is read again whole.
        _follower = new KernelFollower($"{listener}/xdp-egress", transmitters.WaitForChange, _ => Refresh(),
            e => LogFollowFailed(logger, listener, UserFixableException.Describe(e)), () => LogFollowing(logger, listener));
    }

    /// <summary>The test seam that makes the thread fail after its next wait, as a socket that fell behind (ENOBUFS) does.</summary>
    public InjectedFault Fault => _follower.Fault;

    /// <summary>How often the egress list was read (at the start, then once per burst of notifications); for tests.</summary>
    public long Refreshes => Interlocked.Read(ref _refreshes);

    /// <summary>
    /// Starts the layer in front of <paramref name="tc"/>, or returns null, having said why once in the log, when the
    /// interface cannot run it natively, its XDP slot belongs to another tool, or (<c>xdp: auto</c>) it is a veth: the
    /// tc program then forwards alone. The log line is a warning under <c>xdp: on</c>, which asked for the layer.
    /// The layer shares the interface's XDP chain with the interface's other listeners, of any process.
    /// </summary>
    public static TcXdpLayer? Start(ListenerConfig config, int ifindex, string iface, TcProgram tc, FileDescriptorStore store, ILogger logger)
    {
        if (config.Xdp == XdpLayer.Off)
        {
            return null;
        }
        var veth = IsVeth(iface);
        if (config.Xdp == XdpLayer.Auto && veth)
        {
            LogNoLayer(logger, config, iface, VethReason);
            return null;
        }
        XdpChainSlot slot;
        try
        {
            slot = InterfaceXdpChain.Join(ifindex, iface, config.Name, XdpAttachMode.Native, store, warning => LogChainWarning(logger, config.Name, warning));
        }
        catch (BpfException e)
        {
            LogNoLayer(logger, config, iface, e.Message);
            return null;
        }
        XdpTransmitters? transmitters = null;
        BpfObject? obj = null;
        TcXdpTransmitFailures? transmitFailures = null;
        try
        {
            // Opened here, in the listener's namespace: the refresh runs on a thread of its own, which may be elsewhere.
            transmitters = XdpTransmitters.Open();
            obj = Load(config, tc, slot.ChainMapFd, slot.Slot);
            // Before the program meets a frame, so every frame it sends that the egress drops is counted.
            transmitFailures = TcXdpTransmitFailures.Attach(obj, ifindex, config.Name);
            var layer = new TcXdpLayer(slot, transmitters, obj, transmitFailures, logger, config.Name, veth ? ifindex : 0);
            try
            {
                layer.Refresh();
            }
            catch (Exception e) when (e is BpfException or Interop.Netlink.NetlinkException)
            {
                // The layer starts with no egress listed (every frame to TC) and the thread reads the list again.
                layer._follower.Fail(e);
            }
            slot.Fill(obj.ProgramFd(TC_XDP_PROGRAM));
            layer._follower.Start();
            return layer;
        }
        catch (BpfException e) when (obj is not null && transmitFailures is null)
        {
            // Without the count, a frame that the egress drops would stay counted as forwarded.
            Abandon();
            LogNoLayer(logger, config, iface, $"what it sends cannot be counted when an egress drops it: {e.Message}");
            return null;
        }
        catch
        {
            Abandon();
            throw;
        }

        void Abandon()
        {
            slot.Dispose();
            transmitFailures?.Dispose();
            obj?.Dispose();
            transmitters?.Dispose();
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
            o.ReuseMap(TC_XDP_MAP_ROUTE_EPOCHS, tc.MapFd(TC_MAP_ROUTE_EPOCHS));
            o.ReuseMap(TC_XDP_MAP_ROUTE_CACHE, tc.MapFd(TC_MAP_ROUTE_CACHE));
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

    /// <summary>Leaves the chain if still in it, stops the thread and closes the program and its maps.</summary>
    public void Dispose()
    {
        _slot.Dispose();
        _follower.Dispose();
        _transmitFailures.Dispose();
        _object.Dispose();
        _transmitters.Dispose();
    }

    /// <summary>Lists the interfaces that take XDP frames now and forgets those that stopped.</summary>
    private void Refresh()
    {
        Interlocked.Increment(ref _refreshes);
        var now = _transmitters.Read();
        // veth hands the frames of XDP_TX to its peer without waking the peer unless the peer runs XDP itself
        // (veth_xdp_flush), yet a peer with GRO alone counts as taking XDP frames: such frames would wait in the
        // peer's ring until other traffic woke it, and overflow it. So a datagram whose route leads back out of a veth
        // it came in on goes to the tc program (passed as egress_without_xdp); redirects to other veths wake their peer.
        now.Remove(_vethIngress);
        foreach (var ifindex in _listed.Where(i => !now.Contains(i)))
        {
            _egress.TryDelete((uint)ifindex);
        }
        foreach (var ifindex in now.Where(i => !_listed.Contains(i)))
        {
            _egress.Update((uint)ifindex, ifindex);
        }
        _listed = now;
    }

    /// <summary>
    /// A veth's native XDP meets every frame the stack hands it (a pod's traffic, a bridge, any local sender) as a copy
    /// of an skb, and the veth that the layer redirects to builds an skb again: the skb is moved, not avoided, and the
    /// copies cost more than the tc program alone (the benchmark's veth testbed: about twice the CPU per datagram).
    /// </summary>
    private const string VethReason = "it is a veth, whose XDP meets the stack's frames as copies of skbs, and the veth the layer sends to builds an skb again, "
        + "so the layer would cost more CPU than it saves; xdp: on forces it (it pays where frames reach the veth as XDP frames, redirected from a NIC's XDP program)";

    /// <summary>
    /// Whether the interface's driver is veth. A driver that cannot be read (a device without ethtool driver info) is
    /// not a veth, so the layer is tried there as anywhere else, and a device without native XDP refuses it.
    /// </summary>
    private static bool IsVeth(string iface)
    {
        try
        {
            using var device = new NetDevice(iface);
            return device.Driver == "veth";
        }
        catch (TuningException)
        {
            return false;
        }
    }

    /// <summary>Says once why the tc program forwards alone: a warning when <c>xdp: on</c> asked for the layer.</summary>
    private static void LogNoLayer(ILogger logger, ListenerConfig config, string iface, string reason)
    {
        if (config.Xdp == XdpLayer.On)
        {
            LogOnRefused(logger, config.Name, iface, reason);
        }
        else
        {
            LogTcAlone(logger, config.Name, iface, reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: no XDP layer on {Interface}, the tc program forwards alone: {Reason}")]
    private static partial void LogTcAlone(ILogger logger, string listener, string @interface, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: xdp: on, but no XDP layer on {Interface}, the tc program forwards alone: {Reason}")]
    private static partial void LogOnRefused(ILogger logger, string listener, string @interface, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: following which interfaces take XDP frames failed, the XDP layer keeps its last list and reads it afresh until that works: {Reason}")]
    private static partial void LogFollowFailed(ILogger logger, string listener, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: {Warning}")]
    private static partial void LogChainWarning(ILogger logger, string listener, string warning);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: following which interfaces take XDP frames again")]
    private static partial void LogFollowing(ILogger logger, string listener);
}
