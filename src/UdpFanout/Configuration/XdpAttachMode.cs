namespace UdpFanout.Configuration;

/// <summary>How the af_xdp mode attaches its XDP program: native first, or forced.</summary>
internal enum XdpAttachMode
{
    Auto,
    Native,
    Skb,
}
