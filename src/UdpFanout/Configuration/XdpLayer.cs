namespace UdpFanout.Configuration;

/// <summary>Whether a tc_ebpf listener forwards at XDP too, before the kernel builds an skb (<c>xdp:</c>).</summary>
internal enum XdpLayer
{
    /// <summary>Where the interface runs XDP natively; the tc program alone elsewhere, and for what XDP passes.</summary>
    Auto,
    /// <summary>The tc program alone.</summary>
    Off,
}
