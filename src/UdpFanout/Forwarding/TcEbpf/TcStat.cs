namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>The tc program's per-verdict counters: <c>enum fanout_tc_stat</c> in bpf/include/fanout_shared.h.</summary>
internal enum TcStat
{
    Forwarded = 0,
    NoDownstream = 1,
    NoRoute = 2,
    RedirectFailed = 3,
    PassFragment = 4,
    PassTtl = 5,
    PassFragNeeded = 6,
    PassForwardingDisabled = 7,
    /// <summary>A subset of <see cref="Forwarded"/>: redirected while the next hop's neighbour was unresolved.</summary>
    ForwardedUnresolved = 8,
}
