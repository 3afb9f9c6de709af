using System.Net;

namespace UdpFanout.Configuration;

/// <summary>One receiver that datagrams are forwarded to; weight 0 drains it (no datagrams, still checked and counted).</summary>
internal sealed record DownstreamConfig(string Name, IPEndPoint Address, int Weight = DownstreamConfig.DefaultWeight)
{
    public const int DefaultWeight = 1;

    /// <summary>Keeps a weighted round-robin order (one entry per unit of weight) small for 256 downstreams.</summary>
    public const int MaxWeight = 100;
}
