using System.Net;

namespace UdpFanout.Configuration;

/// <summary>One listener: where datagrams arrive, how they move, and where they go.</summary>
internal sealed record ListenerConfig
{
    public required string Name { get; init; }
    public required IPEndPoint Bind { get; init; }
    public ForwardingMode Mode { get; init; } = ForwardingMode.Userspace;
    /// <summary>The NIC the eBPF modes attach to; required for them, optional for userspace.</summary>
    public string? Interface { get; init; }
    public ValueList<DownstreamConfig> Downstreams { get; init; } = ValueList<DownstreamConfig>.Empty;
    public KubernetesDiscoveryConfig? Kubernetes { get; init; }
    public BalancePolicy Balance { get; init; } = BalancePolicy.RoundRobin;
    /// <summary>What <see cref="BalancePolicy.SourceHash"/> hashes; ignored by round robin.</summary>
    public HashKey HashKey { get; init; } = HashKey.SourceIp;
    public int Workers { get; init; } = 1;
    public ValueList<int> Cpus { get; init; } = ValueList<int>.Empty;
    public int BatchSize { get; init; } = 64;
    /// <summary>32 MiB by default: at 200k datagrams/s, about 150 ms of scheduling hiccups absorbed without loss.</summary>
    public int RecvBufferBytes { get; init; } = 32 * 1024 * 1024;
    public int SendBufferBytes { get; init; } = 8 * 1024 * 1024;
    /// <summary>The largest datagram forwarded whole; by default the largest the bind's family can carry.</summary>
    public int MaxPacketSize
    {
        get => _maxPacketSize ?? MaxUdpPayloadOf(Bind.AddressFamily);
        init => _maxPacketSize = value;
    }

    private readonly int? _maxPacketSize;
    public XdpAttachMode XdpMode { get; init; } = XdpAttachMode.Auto;
    /// <summary>tc_ebpf: whether an XDP layer forwards before the tc program, where the interface runs XDP natively.</summary>
    public XdpLayer Xdp { get; init; } = XdpLayer.Auto;
    /// <summary>af_xdp: how many RX queues to serve, from queue 0; null serves every queue the interface has.</summary>
    public int? Queues { get; init; }
    /// <summary>
    /// userspace and af_xdp: send with the client's source address and port (raw IP_HDRINCL sends, CAP_NET_RAW)
    /// instead of the proxy's. tc_ebpf always keeps the client's, its fallback included, whatever this says.
    /// </summary>
    public bool PreserveSource { get; init; }
    /// <summary>
    /// Where this listener's process serves metrics when it runs alone (<c>--listener</c>, one systemd instance per
    /// listener), so instances do not compete for <c>metrics.bind</c>; null uses <c>metrics.bind</c>.
    /// </summary>
    public System.Net.IPEndPoint? MetricsBind { get; init; }

    /// <summary>The largest UDP payload an IPv4 datagram can carry: 65,535 less the IPv4 and UDP headers.</summary>
    public const int MaxUdpPayload = 65507;

    /// <summary>The largest UDP payload an IPv6 datagram can carry without a jumbogram: 65,535 (the payload length field) less the UDP header.</summary>
    public const int MaxUdpPayload6 = 65527;

    public static int MaxUdpPayloadOf(System.Net.Sockets.AddressFamily family) =>
        family == System.Net.Sockets.AddressFamily.InterNetworkV6 ? MaxUdpPayload6 : MaxUdpPayload;

    /// <summary>
    /// True when moving from this config to <paramref name="next"/> needs the data path rebuilt; downstream
    /// changes alone are applied in place.
    /// </summary>
    public bool NeedsRestartFor(ListenerConfig next) =>
        this with { Downstreams = next.Downstreams, Kubernetes = next.Kubernetes } != next;
}
