using UdpFanout.Model;

namespace UdpFanout.Forwarding;

/// <summary>A data path could not start; the message names the cause and what to do about it.</summary>
internal sealed class ForwarderException(string message, Exception? inner = null) : UserFixableException(message, inner);
