using Microsoft.Extensions.Logging;
using static Interop.Netlink;

namespace UdpFanout.Forwarding;

/// <summary>
/// Keeps the learnt IPv6 sources of a listener's active set (<see cref="DownstreamSources"/>) those the kernel would
/// pick now: any change of the kernel's IPv6 addresses or routes (RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE) has them
/// learnt again, once per burst, and so does a send that found one no longer valid (<see cref="DownstreamSources.MarkStale"/>).
/// A failure (a netlink socket that fell behind and lost notifications, say) is logged once until it is over,
/// counted, and followed by a relearn; meanwhile a stale source costs a retry per datagram, never the datagram.
/// </summary>
internal sealed partial class SourceFollower : IDisposable
{
    private readonly ListenerDataPlane _dataPlane;
    private readonly NetlinkSocket _notifications;
    private readonly KernelFollower _follower;

    /// <summary>Subscribes in the caller's network namespace (the listener's) and follows on its own thread.</summary>
    public SourceFollower(ListenerDataPlane dataPlane, string listener, ILogger logger)
    {
        _dataPlane = dataPlane;
        _notifications = NetlinkSocket.Open(NETLINK_ROUTE, RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE);
        _follower = new KernelFollower($"{listener}/v6src", WaitForChange, _ => Relearn(),
            e => LogFollowFailed(logger, e, listener), () => LogFollowing(logger, listener));
        _follower.Start();
    }

    /// <summary>The test seam that makes the next wait for notifications fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault => _follower.Fault;

    /// <summary>How often following the kernel failed and the sources were learnt again from the start.</summary>
    public long Failures => _follower.Failures;

    public void Dispose()
    {
        _follower.Dispose();
        _notifications.Dispose();
    }

    private bool WaitForChange(int milliseconds)
    {
        var changed = false;
        // A burst (an address replaced, a link going down) arrives in several reads: all of it, then one relearn.
        while (_notifications.ReceiveNotifications(changed ? 0 : milliseconds, (_, _) => { }))
        {
            changed = true;
        }
        return changed || _dataPlane.Active.Sources.Stale;
    }

    private void Relearn()
    {
        // A set published meanwhile may have learnt before the change: learn until the one learnt is the active one.
        var active = _dataPlane.Active;
        do
        {
            active.Sources.Relearn();
        }
        while (!ReferenceEquals(active, active = _dataPlane.Active));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: following the kernel's IPv6 addresses and routes failed; IPv6 datagrams whose learnt source went stale are sent again with the kernel's choice until it works (ipv6_source_follow_failures_total)")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception, string listener);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: following the kernel's IPv6 addresses and routes again")]
    private static partial void LogFollowing(ILogger logger, string listener);
}
