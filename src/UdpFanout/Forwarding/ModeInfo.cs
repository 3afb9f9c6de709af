namespace UdpFanout.Forwarding;

/// <summary>
/// A fact about how one mode runs that only that mode has (which XDP attach and AF_XDP bind it got, ...), exported
/// as the info-style gauge <c>udp_fanout_{Name}</c> = 1 with the listener and mode labels plus <see cref="Labels"/>,
/// while the listener runs. A stopped instance reports none: what it said is no longer true.
/// </summary>
internal sealed record ModeInfo(string Name, string Help, IReadOnlyList<KeyValuePair<string, string>> Labels)
{
    /// <summary>Identifies the series, since record equality compares the label list by reference.</summary>
    public string Key => Name + "{" + string.Join(',', Labels) + "}";
}
