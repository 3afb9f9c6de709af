namespace UdpFanout.Configuration;

/// <summary>What of a datagram's source <see cref="BalancePolicy.SourceHash"/> hashes.</summary>
internal enum HashKey
{
    /// <summary>The address alone: every socket of a host goes to one downstream.</summary>
    SourceIp,

    /// <summary>Address and port: each socket of a host is spread on its own.</summary>
    SourceIpPort,
}
