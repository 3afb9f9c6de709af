using System.Net;
using System.Net.Sockets;
using UdpFanout.Model;

namespace UdpFanout.Configuration;

/// <summary>
/// The address families each forwarding mode can serve, for binds, static downstreams and discovered ones alike.
/// The BPF programs and the af_xdp frame parser read IPv4 headers only, so tc_ebpf and af_xdp serve IPv4; userspace
/// lets the kernel's sockets handle both. This is the one place that says so: when the BPF side learns IPv6, this
/// refusal goes.
/// </summary>
internal static class ModeFamilies
{
    public static bool Serves(ForwardingMode mode, AddressFamily family) =>
        family == AddressFamily.InterNetwork || mode == ForwardingMode.Userspace;

    /// <summary>Null when <paramref name="mode"/> can serve <paramref name="endpoint"/>; else why not and what to do.</summary>
    public static string? Refusal(ForwardingMode mode, IPEndPoint endpoint) =>
        Serves(mode, endpoint.AddressFamily)
            ? null
            : $"{endpoint} is IPv6, and mode {mode.YamlName()} serves IPv4 only (its BPF program parses IPv4 headers): use mode userspace for IPv6, or an IPv4 address";
}
