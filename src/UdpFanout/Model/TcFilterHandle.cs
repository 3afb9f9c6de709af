using System.Net;

namespace UdpFanout.Model;

/// <summary>
/// The handle of a tc_ebpf listener's filter on its interface, which follows from its bind: the port and the
/// address's last two bytes, so listeners on one interface differ unless they share the port and addresses alike in
/// their last 16 bits. Here, in Model, because both the attachment (at start) and <c>check</c> refuse by it.
/// </summary>
internal static class TcFilterHandle
{
    /// <summary>Never 0 (the kernel would pick one), since a listener's port is not.</summary>
    public static uint For(IPEndPoint bind)
    {
        var address = bind.Address.GetAddressBytes();
        return (uint)bind.Port << 16 | (uint)address[^2] << 8 | address[^1];
    }

    /// <summary>
    /// Why the filters of two listeners bound to <paramref name="bind"/> and <paramref name="other"/> cannot share an
    /// interface (one would replace the other's), or null when they can. The same bind is no collision: that is one
    /// listener taking over its own filter (a restart on reload starts the new instance before the old one stops).
    /// </summary>
    public static string? Collision(IPEndPoint bind, IPEndPoint other) =>
        !bind.Equals(other) && For(bind) == For(other)
            ? $"{bind} and {other} have the same port and the same last two address bytes (give one of them another port)"
            : null;
}
