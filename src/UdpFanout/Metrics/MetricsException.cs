using UdpFanout.Model;

namespace UdpFanout.Metrics;

/// <summary>The metrics endpoint cannot move to the bind a reload asked for; the message says where it stays.</summary>
internal sealed class MetricsException(string message) : UserFixableException(message);
