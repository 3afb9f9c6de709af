using UdpFanout.Model;

namespace UdpFanout.Discovery;

/// <summary>Discovery cannot start (no way to reach the API, an unreadable kubeconfig); the message says what to do.</summary>
internal sealed class DiscoveryException(string message, Exception? inner = null) : UserFixableException(message, inner);
