using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Model;
using UdpFanout.Systemd;
using static Interop.Fanout;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// The tc_ebpf mode: a TC ingress program forwards the listener's datagrams in the kernel; what it passes to the
/// stack (fragments, expiring TTLs, datagrams over the egress MTU) reaches a one-worker userspace forwarder bound
/// to the listener's address, through the same downstream set.
/// Received counts what the program forwarded or dropped plus what the fallback socket received; datagrams the
/// program passed to the stack are counted once, when the fallback receives them (reassembled).
/// </summary>
internal sealed partial class TcEbpfForwarder : IListenerForwarder
{
    private static readonly Version MinimumKernel = new(5, 10);
    /// <summary>The program's verdicts that end in the kernel: forwarded or dropped there, never seen by the fallback.</summary>
    private static readonly (fanout_tc_stat Stat, DropReason? Dropped)[] InKernel =
    [
        (fanout_tc_stat.FANOUT_TC_FORWARDED, null),
        (fanout_tc_stat.FANOUT_TC_NO_DOWNSTREAM, DropReason.NoDownstream),
        (fanout_tc_stat.FANOUT_TC_NO_HEALTHY_DOWNSTREAM, DropReason.NoHealthyDownstream),
        (fanout_tc_stat.FANOUT_TC_NO_ROUTE, DropReason.NoRoute),
        (fanout_tc_stat.FANOUT_TC_REDIRECT_FAILED, DropReason.RedirectFailed),
        (fanout_tc_stat.FANOUT_TC_TTL_EXPIRED, DropReason.TtlExpired),
    ];

    /// <summary>
    /// The verdicts that pass a datagram to the stack, by their reason label. The fallback counts those it receives;
    /// bad headers the kernel drops itself (its IP InHdrErrors/InCsumErrors), so they were never a datagram.
    /// </summary>
    private static readonly (fanout_tc_stat Stat, string Reason)[] PassedToStackReasons =
    [
        (fanout_tc_stat.FANOUT_TC_PASS_FRAGMENT, "fragment"),
        (fanout_tc_stat.FANOUT_TC_PASS_FRAG_NEEDED, "frag_needed"),
        (fanout_tc_stat.FANOUT_TC_PASS_FORWARDING_DISABLED, "forwarding_disabled"),
        (fanout_tc_stat.FANOUT_TC_PASS_BAD_HEADER, "bad_header"),
        (fanout_tc_stat.FANOUT_TC_PASS_EXTENSION_HEADER, "extension_header"),
        (fanout_tc_stat.FANOUT_TC_PASS_OTHER_FAMILY, "other_family"),
    ];

    /// <summary>The XDP layer's verdicts that pass a datagram on to the tc program, by their reason label.</summary>
    private static readonly (fanout_tc_xdp_stat Stat, string Reason)[] XdpPassedReasons =
    [
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_FRAGMENT, "fragment"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_BAD_HEADER, "bad_header"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_TTL, "ttl_expiring"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_NO_DOWNSTREAM, "no_downstream"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_VLAN, "vlan"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_NO_NEIGH, "neighbour_unresolved"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_FIB, "route"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_EGRESS, "egress_without_xdp"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_UDP_CHECKSUM, "udp_checksum"),
        (fanout_tc_xdp_stat.FANOUT_TC_XDP_PASS_EXTENSION_HEADER, "extension_header"),
    ];

    private readonly ListenerConfig _config;
    private readonly ILogger _logger;
    private readonly UserspaceForwarder _fallback;
    private readonly FileDescriptorStore _store;
    private readonly bool _tcxLinks;
    private readonly TimeSpan? _routeCacheAge;
    private TcProgram? _program;
    private IDisposable? _attachment;
    private TcXdpLayer? _xdp;
    private RouteCacheEpochs? _routes;
    private bool _overLimit;
    // Taken by ReadStats and by the part of DisposeAsync that closes the maps, so a scrape never reads a closed map.
    private readonly Lock _maps = new();
    private ListenerStats? _final;

    /// <param name="tcxLinks">
    /// Attach through a tcx link where the kernel has them (6.6); false attaches a classic tc filter, as on older
    /// kernels, which lets tests cover that path on this one.
    /// </param>
    /// <param name="routeCacheAge">How often the route cache is renewed without a change (<see cref="RouteCacheEpochs.DefaultMaximumAge"/>); tests make it long.</param>
    public TcEbpfForwarder(ListenerConfig config, ILoggerFactory loggers, FileDescriptorStore store, bool tcxLinks = true, TimeSpan? routeCacheAge = null)
    {
        _routeCacheAge = routeCacheAge;
        _config = config;
        _logger = loggers.CreateLogger<TcEbpfForwarder>();
        _store = store;
        _tcxLinks = tcxLinks;
        // The program keeps the client's source address, so what it passes up keeps it too: receivers must not see
        // the proxy's address for exactly the fragmented and the oversized datagrams.
        _fallback = UserspaceForwarder.FragmentFallback(config with { PreserveSource = true }, loggers, store);
    }

    /// <summary>The test seam that makes the fallback worker's next batch fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault FallbackFault => _fallback.Fault;

    /// <summary>The XDP layer while it runs (null without one); for tests.</summary>
    public TcXdpLayer? XdpLayer => _xdp;

    /// <summary>The tc program while it is loaded; for tests.</summary>
    public TcProgram? Program => _program;

    /// <summary>What keeps the programs' route cache current while the listener runs; for tests.</summary>
    public RouteCacheEpochs? RouteCache => _routes;

    public async Task StartAsync(DownstreamSet initial, CancellationToken cancellationToken)
    {
        var (iface, ifindex) = ListenerInterface.Resolve(_config);
        if (Environment.OSVersion.Version < MinimumKernel)
        {
            throw new ForwarderException($"listener '{_config.Name}': tc_ebpf needs Linux {MinimumKernel} or newer for bpf_redirect_neigh; this kernel is {Environment.OSVersion.Version} (use mode userspace)");
        }
        try
        {
            _program = TcProgram.Load(_config.Bind, _config.Balance, _config.HashKey);
            initial = Fit(initial);
            _program.Publish(initial);
            // Before any datagram meets the program: until its first read the cache is off (epochs 0).
            _routes = new RouteCacheEpochs(_program, _config.Name, _logger, _routeCacheAge);
            _routes.Start();
            // The fallback is bound before the program is attached, so nothing the program passes up is lost.
            await _fallback.StartAsync(initial, cancellationToken);
            _attachment = Attach(ifindex, iface);
            // After the tc program, which takes whatever the layer passes from its first frame on.
            _xdp = TcXdpLayer.Start(_config, ifindex, iface, _program, _store, _logger);
        }
        catch (UserFixableException e) when (e is BpfException or Interop.Netlink.NetlinkException)
        {
            throw new ForwarderException($"listener '{_config.Name}': {e.Message}", e);
        }
        LogAttached(_logger, _config.Name, iface, _attachment is TcxAttachment { TookOver: true } ? "took over the tcx link kept while it restarted" : _attachment is TcxAttachment ? "tcx link" : "tc filter",
            _xdp is not null ? "with an XDP layer in native mode" : "without an XDP layer");
        foreach (var family in ListenedFamilies())
        {
            if (File.Exists(ForwardingSetting(family, iface)) && File.ReadAllText(ForwardingSetting(family, iface)).Trim() == "0")
            {
                LogForwardingDisabled(_logger, _config.Name, iface, family);
            }
        }
    }

    /// <summary>
    /// A tcx link, whose lifetime follows its holders (this process, systemd's store), where the kernel has them;
    /// a classic clsact filter on kernels before 6.6, which refuse the link's attach type with EINVAL.
    /// </summary>
    private IDisposable Attach(int ifindex, string iface)
    {
        if (_tcxLinks)
        {
            try
            {
                return TcxAttachment.Attach(ifindex, iface, _program!.ProgramFd, _config.Name, _store);
            }
            catch (BpfException e) when (e.Errno == Interop.Libc.EINVAL)
            {
                LogNoTcx(_logger, _config.Name);
            }
        }
        return TcIngressAttachment.Attach(ifindex, iface, _program!.ProgramFd, _config.Bind, _config.Name);
    }

    /// <summary>"ipv4" and/or "ipv6": the families whose datagrams the program takes, as in /proc/sys/net/&lt;family&gt;.</summary>
    private IEnumerable<string> ListenedFamilies()
    {
        var families = ListenerObject.Listener(_config.Bind).families;
        if ((families & FANOUT_LISTEN_IPV4) != 0)
        {
            yield return "ipv4";
        }
        if ((families & FANOUT_LISTEN_IPV6) != 0)
        {
            yield return "ipv6";
        }
    }

    private static string ForwardingSetting(string family, string iface) => $"/proc/sys/net/{family}/conf/{iface}/forwarding";

    public void UpdateDownstreams(DownstreamSet set)
    {
        set = Fit(set);
        _program?.Publish(set);
        _fallback.UpdateDownstreams(set);
    }

    public void ForgetDownstreams(IReadOnlyCollection<Downstream> gone)
    {
        _program?.Forget(gone);
        _fallback.ForgetDownstreams(gone);
    }

    /// <summary>
    /// The program's set holds at most FANOUT_MAX_DOWNSTREAMS. Static lists are checked against that with the
    /// config; a larger set can still come from discovery (a big service), and is cut to its first downstreams with
    /// a warning rather than refused, which would leave the data path on an older, staler set.
    /// </summary>
    private DownstreamSet Fit(DownstreamSet set)
    {
        var over = set.Members.Count > FANOUT_MAX_DOWNSTREAMS;
        if (over && !_overLimit)
        {
            LogTooManyDownstreams(_logger, _config.Name, set.Members.Count, FANOUT_MAX_DOWNSTREAMS);
        }
        _overLimit = over;
        return over ? new DownstreamSet(set.Members.Take(FANOUT_MAX_DOWNSTREAMS), set.ReasonWhenEmpty) : set;
    }

    /// <summary>The counters; after <see cref="DisposeAsync"/>, the last ones read before the maps closed.</summary>
    public ListenerStats ReadStats()
    {
        lock (_maps)
        {
            return _final ?? ReadLiveStats();
        }
    }

    private ListenerStats ReadLiveStats()
    {
        var fallback = _fallback.ReadStats();
        var stats = new StatsBuilder().Add(fallback).Add(ModeCounter.FallbackReceived(fallback));
        if (_program is null)
        {
            return stats.Build();
        }
        foreach (var (stat, dropped) in InKernel)
        {
            var (packets, bytes) = _program.Read(stat);
            stats.AddReceived(packets, bytes);
            if (dropped is { } reason)
            {
                stats.AddDropped(reason, packets);
            }
            else
            {
                stats.AddForwarded(packets, bytes);
            }
        }
        foreach (var (stat, reason) in PassedToStackReasons)
        {
            stats.Add(PassedToStack(reason, _program.Read(stat).Packets));
        }
        stats.Add(new ModeCounter("tc_forwarded_neighbour_unresolved_total",
            "Datagrams counted as forwarded that the tc program redirected while the next hop's neighbour was unresolved: the kernel sends them once it answers and drops them if it never does.",
            _program.Read(fanout_tc_stat.FANOUT_TC_FORWARDED_UNRESOLVED).Packets));
        stats.Add(new ModeCounter("tc_route_follow_failures_total",
            "Times following the kernel's routes, rules and links for the route cache failed; the cache is off (every datagram looked up) until a fresh read succeeds.",
            _routes?.Failures ?? 0));
        if (_xdp is not null)
        {
            AddXdpLayer(stats, _xdp);
        }
        foreach (var (downstream, (packets, bytes)) in _program.DownstreamTotals())
        {
            stats.AddDownstream(downstream, packets, bytes);
        }
        return stats.Build();
    }

    private DisposeOnce _disposed;

    public async ValueTask DisposeAsync()
    {
        if (!_disposed.First())
        {
            return;
        }
        if (_xdp is not null)
        {
            // First, so what is still on its way meets the tc program, which is still attached.
            StopPath.Step(_logger, _config.Name, "leaving the XDP chain", _xdp.LeaveChain);
        }
        if (_attachment is not null)
        {
            // A tcx link under systemd stays attached in the store, for the next process or listener to take over.
            StopPath.Step(_logger, _config.Name, "detaching the tc program", _attachment.Dispose);
            LogDetached(_logger, _config.Name, _config.Interface ?? "", _store.KeepsAcrossRestarts && _attachment is TcxAttachment ? "its tcx link stays in systemd's store until the service stops" : "detached");
        }
        await StopPath.StepAsync(_logger, _config.Name, "stopping the fallback socket", _fallback.DisposeAsync);
        lock (_maps)
        {
            // Nothing reaches the program or the fallback any more: these are the final counts, read while the
            // maps are still open.
            StopPath.Step(_logger, _config.Name, "reading the final counters", () => _final = ReadLiveStats());
            _final ??= _fallback.ReadStats();
            StopPath.Step(_logger, _config.Name, "closing the XDP layer", () => _xdp?.Dispose());
            _xdp = null;
            // Before the program: it writes the program's epochs.
            StopPath.Step(_logger, _config.Name, "stopping the route cache's follower", () => _routes?.Dispose());
            _routes = null;
            StopPath.Step(_logger, _config.Name, "closing the tc program", () => _program?.Dispose());
            _program = null;
        }
    }

    /// <summary>
    /// What the XDP layer forwarded joins received and forwarded, less what its egresses then dropped at transmit,
    /// which is dropped instead; what it passed the tc program counts when it meets it, so those are only the
    /// layer's own counters, by reason.
    /// </summary>
    private static void AddXdpLayer(StatsBuilder stats, TcXdpLayer xdp)
    {
        // The drops first: the tracepoint counts a frame only after the layer counted it forwarded, so every drop
        // read here is of a frame in the forwarded count read next. The kernel reports drops per pair of devices,
        // not per program, so a second layer on the interface can add drops of frames this one never sent: never
        // more than it sent.
        var failed = xdp.Read(fanout_tc_xdp_stat.FANOUT_TC_XDP_TRANSMIT_FAILED).Packets;
        var (packets, bytes) = xdp.Read(fanout_tc_xdp_stat.FANOUT_TC_XDP_FORWARDED);
        failed = Math.Min(failed, packets);
        stats.AddReceived(packets, bytes).AddForwarded(packets - failed, bytes).AddDropped(DropReason.XdpTransmitFailed, failed);
        stats.Add(new ModeCounter("tc_xdp_forwarded_total", "Datagrams the tc_ebpf listener's XDP layer forwarded before the kernel built an skb (also counted in forwarded; those its egress then dropped are not).", packets - failed));
        foreach (var (stat, reason) in XdpPassedReasons)
        {
            stats.Add(new ModeCounter("tc_xdp_passed_total", "Datagrams of the listener the XDP layer passed on to the tc program, by reason (counted there again).", xdp.Read(stat).Packets, [new("reason", reason)]));
        }
        stats.Add(new ModeCounter("tc_xdp_redirect_failed_total", "Datagrams whose redirect the XDP layer's bpf_redirect_map refused; passed on unchanged to the tc program.",
            xdp.Read(fanout_tc_xdp_stat.FANOUT_TC_XDP_REDIRECT_FAILED).Packets));
    }

    private static ModeCounter PassedToStack(string reason, long value) =>
        new("tc_passed_to_stack_total", "Datagrams the tc program passed to the kernel stack for the fallback socket, by reason.", value, [new("reason", reason)]);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: tc program attached to {Interface} ingress ({How}), {Xdp}")]
    private static partial void LogAttached(ILogger logger, string listener, string @interface, string how, string xdp);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: this kernel has no tcx links (Linux 6.6): the program is attached as a tc filter, which does not outlive the process, so datagrams that arrive while the service restarts take the fallback socket")]
    private static partial void LogNoTcx(ILogger logger, string listener);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: forwarding is disabled on {Interface}, so the kernel cannot route for the tc program and every datagram takes the userspace fallback; set net.{Family}.conf.{Interface}.forwarding=1")]
    private static partial void LogForwardingDisabled(ILogger logger, string listener, string @interface, string family);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: {Count} downstreams, but tc_ebpf forwards to at most {Max}: the first {Max} of them get the traffic (use mode af_xdp or userspace for more)")]
    private static partial void LogTooManyDownstreams(ILogger logger, string listener, int count, int max);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: the tc program on {Interface}: {How}")]
    private static partial void LogDetached(ILogger logger, string listener, string @interface, string how);
}
