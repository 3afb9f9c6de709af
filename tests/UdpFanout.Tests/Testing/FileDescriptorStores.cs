using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Systemd;

namespace UdpFanout.Tests.Testing;

/// <summary>Stores for the forwarders under test.</summary>
internal static class FileDescriptorStores
{
    /// <summary>No systemd to keep anything: sockets and links close with their listener, as outside systemd.</summary>
    public static FileDescriptorStore None() => new(null, [], NullLogger.Instance);
}
