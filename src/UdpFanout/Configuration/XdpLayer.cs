namespace UdpFanout.Configuration;

/// <summary>Whether a tc_ebpf listener forwards at XDP too, before the kernel builds an skb (<c>xdp:</c>).</summary>
internal enum XdpLayer
{
    /// <summary>
    /// Where the interface runs XDP natively on frames that are not skbs yet; the tc program alone elsewhere (a veth,
    /// whose XDP meets the stack's frames as copies of skbs), and for what XDP passes.
    /// </summary>
    Auto,
    /// <summary>Wherever the interface runs XDP natively, a veth included; the tc program alone, with a warning, where it cannot.</summary>
    On,
    /// <summary>The tc program alone.</summary>
    Off,
}
