namespace UdpFanout.Configuration;

/// <summary>How a listener moves datagrams; the YAML spelling is the snake_case name.</summary>
internal enum ForwardingMode
{
    Userspace,
    TcEbpf,
    AfXdp,
}
