using System.Net;

namespace UdpFanout.Configuration;

/// <summary>
/// Where one listener must never send a datagram, for its static and its discovered downstreams alike: back into
/// itself (one datagram would circulate for ever: 146,446 forwards a second were measured), to more than one
/// receiver (unspecified, broadcast, multicast), or, in mode tc_ebpf, to this host, which its route lookup
/// answers as "local" and the program drops.
/// </summary>
internal sealed class DestinationRules(ListenerConfig listener, HostAddresses host)
{
    /// <summary>Null when the listener may forward to <paramref name="destination"/>; else what is wrong, and why.</summary>
    public string? Refusal(IPEndPoint destination)
    {
        var address = destination.Address;
        if (Binds.IsWildcard(address))
        {
            return $"{destination} is the unspecified address: a datagram sent to {address} is delivered to this host itself, so it comes back into the listeners (a forwarding loop); give the receiver's own address";
        }
        if (address.Equals(IPAddress.Broadcast))
        {
            return $"{destination} is the broadcast address: every host on the link gets each datagram, this one included (a forwarding loop when it reaches a listener), instead of exactly one receiver";
        }
        if (IsMulticast(address))
        {
            return $"{destination} is a multicast address: every member of the group gets each datagram, this host too when it has joined the group, instead of exactly one receiver";
        }
        if (host.BroadcastOwner(address) is { } subnet)
        {
            return $"{destination} is the broadcast address of {subnet.Subnet} on {subnet.Interface}: every host of that subnet gets each datagram, this one included, instead of exactly one receiver";
        }
        if (Reaches(destination, listener.Bind, host))
        {
            return destination.Equals(listener.Bind)
                ? $"{destination} is this listener's own bind: every datagram would come back into the listener (a forwarding loop)"
                : $"{destination} is an address of this host, and the listener receives on port {listener.Bind.Port} of every local address (bind {listener.Bind}): every datagram would come back into it (a forwarding loop)";
        }
        if (listener.Mode == ForwardingMode.TcEbpf && host.IsLocal(address))
        {
            var what = HostAddresses.IsLoopback(address) ? "a loopback address" : "an address of this host";
            return $"{destination} is {what}: mode tc_ebpf routes each datagram with bpf_fib_lookup, which answers \"local\" for it, so every datagram would be dropped as no_route; use mode userspace or af_xdp to forward to a receiver on this host";
        }
        return null;
    }

    /// <summary>Whether a datagram sent to <paramref name="destination"/> arrives at a listener bound to <paramref name="bind"/>.</summary>
    public static bool Reaches(IPEndPoint destination, IPEndPoint bind, HostAddresses host) =>
        destination.Port == bind.Port
        && Binds.Receives(bind.Address, destination.Address)
        && (!Binds.IsWildcard(bind.Address) || host.IsLocal(destination.Address));

    private static bool IsMulticast(IPAddress address) =>
        address.IsIPv6Multicast || address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;
}
