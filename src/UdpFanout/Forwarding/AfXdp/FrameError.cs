namespace UdpFanout.Forwarding.AfXdp;

/// <summary>Why <see cref="FrameParser"/> refused a frame; every one counts as a parse error (reason malformed).</summary>
internal enum FrameError
{
    None,
    TruncatedEthernet,
    NotIpv4,
    TruncatedIpv4,
    BadIhl,
    BadTotalLength,
    NotUdp,
    Fragment,
    TruncatedUdp,
    BadUdpLength,
}
