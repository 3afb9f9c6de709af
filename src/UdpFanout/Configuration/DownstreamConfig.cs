using System.Net;

namespace UdpFanout.Configuration;

/// <summary>One receiver that datagrams are forwarded to.</summary>
internal sealed record DownstreamConfig(string Name, IPEndPoint Address);
