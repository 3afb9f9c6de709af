namespace UdpFanout.Forwarding;

/// <summary>
/// A counter that only one mode has (AF_XDP ring statistics, datagrams that took the fragment fallback, ...),
/// exported as <c>udp_fanout_{Name}</c> with the listener and mode labels plus <see cref="Labels"/>.
/// </summary>
internal sealed record ModeCounter(string Name, string Help, long Value, IReadOnlyList<KeyValuePair<string, string>>? Labels = null);
