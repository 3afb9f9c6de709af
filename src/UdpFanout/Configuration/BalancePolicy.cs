namespace UdpFanout.Configuration;

/// <summary>How a listener picks the downstream of each datagram; the YAML spelling is the snake_case name.</summary>
internal enum BalancePolicy
{
    /// <summary>Each datagram to the next downstream in a (smooth weighted) order: independent messages.</summary>
    RoundRobin,

    /// <summary>Each source to one downstream through a Maglev table: receivers that keep state per sender.</summary>
    SourceHash,
}
