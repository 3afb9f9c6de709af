namespace UdpFanout.Configuration;

/// <summary>Boot-time settings for one NIC, applied by <c>udp-fanout tune</c>; null leaves a setting as it is.</summary>
internal sealed record InterfaceTuningConfig(string Interface, int? Mtu, int? CombinedChannels);
