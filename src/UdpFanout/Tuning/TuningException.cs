using UdpFanout.Model;

namespace UdpFanout.Tuning;

/// <summary>The kernel or the driver refused a tuning step; the message says what and, where known, why.</summary>
internal sealed class TuningException(string message, int errno) : UserFixableException(message)
{
    public int Errno { get; } = errno;
}
