using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Model;

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
    private static readonly TcStat[] InKernel = [TcStat.Forwarded, TcStat.NoDownstream, TcStat.NoRoute, TcStat.RedirectFailed];

    private readonly ListenerConfig _config;
    private readonly ILogger _logger;
    private readonly UserspaceForwarder _fallback;
    private TcProgram? _program;
    private TcIngressAttachment? _attachment;
    private bool _overLimit;
    // Taken by ReadStats and by the part of DisposeAsync that closes the maps, so a scrape never reads a closed map.
    private readonly Lock _maps = new();
    private ListenerStats? _final;

    public TcEbpfForwarder(ListenerConfig config, ILoggerFactory loggers)
    {
        _config = config;
        _logger = loggers.CreateLogger<TcEbpfForwarder>();
        _fallback = UserspaceForwarder.FragmentFallback(config, loggers);
    }

    public async Task StartAsync(DownstreamSet initial, CancellationToken cancellationToken)
    {
        var (iface, ifindex) = ListenerInterface.Resolve(_config);
        if (Environment.OSVersion.Version < MinimumKernel)
        {
            throw new ForwarderException($"listener '{_config.Name}': tc_ebpf needs Linux {MinimumKernel} or newer for bpf_redirect_neigh; this kernel is {Environment.OSVersion.Version} (use mode userspace)");
        }
        try
        {
            _program = TcProgram.Load(_config.Bind);
            initial = Fit(initial);
            _program.Publish(initial);
            // The fallback is bound before the program is attached, so nothing the program passes up is lost.
            await _fallback.StartAsync(initial, cancellationToken);
            _attachment = TcIngressAttachment.Attach(ifindex, iface, _program.ProgramFd);
        }
        catch (BpfException e)
        {
            throw new ForwarderException($"listener '{_config.Name}': {e.Message}", e);
        }
        LogAttached(_logger, _config.Name, iface);
        if (File.Exists(ForwardingSetting(iface)) && File.ReadAllText(ForwardingSetting(iface)).Trim() == "0")
        {
            LogForwardingDisabled(_logger, _config.Name, iface);
        }
    }

    private static string ForwardingSetting(string iface) => $"/proc/sys/net/ipv4/conf/{iface}/forwarding";

    public void UpdateDownstreams(DownstreamSet set)
    {
        set = Fit(set);
        _program?.Publish(set);
        _fallback.UpdateDownstreams(set);
    }

    /// <summary>
    /// The program's set holds at most FANOUT_MAX_DOWNSTREAMS. Static lists are checked against that with the
    /// config; a larger set can still come from discovery (a big service), and is cut to its first downstreams with
    /// a warning rather than refused, which would leave the data path on an older, staler set.
    /// </summary>
    private DownstreamSet Fit(DownstreamSet set)
    {
        var over = set.Members.Count > Interop.Fanout.FANOUT_MAX_DOWNSTREAMS;
        if (over && !_overLimit)
        {
            LogTooManyDownstreams(_logger, _config.Name, set.Members.Count, Interop.Fanout.FANOUT_MAX_DOWNSTREAMS);
        }
        _overLimit = over;
        return over ? new DownstreamSet(set.Members.Take(Interop.Fanout.FANOUT_MAX_DOWNSTREAMS), set.ReasonWhenEmpty) : set;
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
        var tc = Enum.GetValues<TcStat>().ToDictionary(stat => stat, _program.Read);
        foreach (var stat in InKernel)
        {
            stats.AddReceived(tc[stat].Packets, tc[stat].Bytes);
        }
        stats.AddForwarded(tc[TcStat.Forwarded].Packets, tc[TcStat.Forwarded].Bytes)
            .AddDropped(DropReason.NoDownstream, tc[TcStat.NoDownstream].Packets)
            .AddDropped(DropReason.NoRoute, tc[TcStat.NoRoute].Packets)
            .AddDropped(DropReason.RedirectFailed, tc[TcStat.RedirectFailed].Packets)
            .Add(PassedToStack("fragment", tc[TcStat.PassFragment].Packets))
            .Add(PassedToStack("ttl", tc[TcStat.PassTtl].Packets))
            .Add(PassedToStack("frag_needed", tc[TcStat.PassFragNeeded].Packets))
            .Add(PassedToStack("forwarding_disabled", tc[TcStat.PassForwardingDisabled].Packets));
        foreach (var (downstream, (packets, bytes)) in _program.DownstreamTotals())
        {
            stats.AddDownstream(downstream, packets, bytes);
        }
        return stats.Build();
    }

    public async ValueTask DisposeAsync()
    {
        if (_attachment is not null)
        {
            StopPath.Step(_logger, _config.Name, "detaching the tc program", _attachment.Dispose);
            LogDetached(_logger, _config.Name, _config.Interface ?? "");
        }
        await StopPath.StepAsync(_logger, _config.Name, "stopping the fallback socket", _fallback.DisposeAsync);
        lock (_maps)
        {
            // Nothing reaches the program or the fallback any more: these are the final counts, read while the
            // maps are still open.
            StopPath.Step(_logger, _config.Name, "reading the final counters", () => _final = ReadLiveStats());
            _final ??= _fallback.ReadStats();
            StopPath.Step(_logger, _config.Name, "closing the tc program", () => _program?.Dispose());
            _program = null;
        }
    }

    private static ModeCounter PassedToStack(string reason, long value) =>
        new("tc_passed_to_stack_total", "Datagrams the tc program passed to the kernel stack for the fallback socket, by reason.", value, [new("reason", reason)]);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: tc program attached to {Interface} ingress")]
    private static partial void LogAttached(ILogger logger, string listener, string @interface);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: forwarding is disabled on {Interface}, so the kernel cannot route for the tc program and every datagram takes the userspace fallback; set net.ipv4.conf.{Interface}.forwarding=1")]
    private static partial void LogForwardingDisabled(ILogger logger, string listener, string @interface);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: {Count} downstreams, but tc_ebpf forwards to at most {Max}: the first {Max} of them get the traffic (use mode af_xdp or userspace for more)")]
    private static partial void LogTooManyDownstreams(ILogger logger, string listener, int count, int max);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: tc program detached from {Interface}")]
    private static partial void LogDetached(ILogger logger, string listener, string @interface);
}
