namespace UdpFanout.Forwarding.AfXdp;

/// <summary>Why <see cref="FrameParser"/> refused a frame; every one counts as a parse error (reason malformed).</summary>
internal enum FrameError
{
    None,
    TruncatedEthernet,
    NotIp,
    TruncatedIpv4,
    TruncatedIpv6,
    BadVersion,
    BadPayloadLength,
    ExtensionHeader,
    ZeroUdpChecksum,
    BadIhl,
    BadTotalLength,
    NotUdp,
    Fragment,
    TruncatedUdp,
    BadUdpLength,
}
