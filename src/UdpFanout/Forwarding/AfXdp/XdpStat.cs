namespace UdpFanout.Forwarding.AfXdp;

/// <summary>The XDP program's per-verdict counters: <c>enum fanout_xdp_stat</c> in bpf/include/fanout_shared.h.</summary>
internal enum XdpStat
{
    Redirected = 0,
    NoSocket = 1,
    PassFragment = 2,
}
