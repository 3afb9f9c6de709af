using Microsoft.Extensions.Logging;
using static Interop.Netlink;

namespace UdpFanout.Forwarding.AfXdp.Transmit;

/// <summary>
/// Knows, for every downstream of a listener, whether the queue forwarders can send to it from the TX ring, and
/// with which destination MAC: the kernel's route to it (RTM_GETROUTE) must be a unicast one out of the listener's
/// interface, and the kernel's neighbour entry for its next hop usable (<see cref="NeighbourEntry.Reachable"/>).
/// Neighbours are dumped at the start and followed through RTM_NEWNEIGH/RTM_DELNEIGH; any route change makes every
/// route be looked up again. The result is published as one <see cref="SegmentTargets"/>, rebuilt on every change
/// and for every new downstream set. A next hop whose entry goes stale is used on, as the kernel would, and the
/// kernel is asked to confirm it (NTF_USE), so a changed MAC is found as the kernel would find it.
/// A failure (a netlink socket that fell behind and lost notifications, say) is logged once until it is over,
/// counted, and followed by a fresh dump; meanwhile everything goes through the kernel, never to a stale MAC.
/// </summary>
internal sealed partial class SegmentFollower : IDisposable
{
    private readonly int _ifindex;
    private readonly ListenerDataPlane _dataPlane;
    private readonly NetlinkSocket _requests;
    private readonly NetlinkSocket _notifications;
    private readonly KernelFollower _follower;
    // Held by the following thread and by Refresh (a reload's thread): the tables and the request socket.
    private readonly Lock _gate = new();
    private readonly Dictionary<uint, NeighbourEntry> _neighbours = [];
    private readonly Dictionary<uint, NextHop> _routes = [];
    // Stale entries the kernel has not yet been asked to confirm.
    private readonly HashSet<uint> _unconfirmed = [];
    private SegmentTargets _current = SegmentTargets.None;
    private bool _changed;

    /// <summary>Opens its netlink sockets in the caller's network namespace (the listener's) and subscribes at once.</summary>
    public SegmentFollower(int ifindex, ListenerDataPlane dataPlane, string listener, ILogger logger)
    {
        _ifindex = ifindex;
        _dataPlane = dataPlane;
        _requests = NetlinkSocket.Open(NETLINK_ROUTE);
        try
        {
            // Subscribed before the dump, so no change between the dump and the first read goes unseen.
            _notifications = NetlinkSocket.Open(NETLINK_ROUTE, RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE);
        }
        catch
        {
            _requests.Dispose();
            throw;
        }
        _follower = new KernelFollower($"{listener}/neigh", WaitForChange, CatchUp, e =>
        {
            // Through the kernel until the next dump: a MAC that may have changed meanwhile is never used.
            Volatile.Write(ref _current, SegmentTargets.None);
            LogFollowFailed(logger, e, listener);
        }, () => LogFollowing(logger, listener));
    }

    /// <summary>The test seam that makes the next wait for notifications fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault => _follower.Fault;

    /// <summary>What the queue forwarders read once per batch.</summary>
    public SegmentTargets Current => Volatile.Read(ref _current);

    /// <summary>How often following the kernel failed and started over with a fresh dump.</summary>
    public long Failures => _follower.Failures;

    /// <summary>The neighbour entry the follower holds for <paramref name="address"/> (network byte order); for tests.</summary>
    public NeighbourEntry? Neighbour(uint address)
    {
        lock (_gate)
        {
            return _neighbours.TryGetValue(address, out var entry) ? entry : null;
        }
    }

    /// <summary>Dumps the neighbours and publishes the first targets before any frame is forwarded, then follows.</summary>
    public void Start()
    {
        _follower.StartAfterFirstRead();
    }

    /// <summary>Builds the targets of the set the data plane just activated (called after each update of it).</summary>
    public void Refresh()
    {
        try
        {
            lock (_gate)
            {
                // While failing the tables may miss changes: everything goes through the kernel until the fresh dump.
                if (!_follower.Failing)
                {
                    Publish();
                }
            }
        }
        catch (Exception e)
        {
            // A reload must not fail for this: the set is active, and its datagrams go through the kernel meanwhile.
            _follower.Fail(e);
        }
    }

    public void Dispose()
    {
        _follower.Dispose();
        _requests.Dispose();
        _notifications.Dispose();
    }

    /// <summary>Applies a burst of notifications to the tables; true when one changed them.</summary>
    private bool WaitForChange(int milliseconds)
    {
        if (!_notifications.ReceiveNotifications(milliseconds, OnNotification))
        {
            return false;
        }
        // A burst (a flush, a link going down) arrives in several reads: all of it, then one rebuild.
        while (_notifications.ReceiveNotifications(0, OnNotification))
        {
        }
        lock (_gate)
        {
            return _changed;
        }
    }

    private void CatchUp(bool afresh)
    {
        if (afresh)
        {
            Resync();
            return;
        }
        lock (_gate)
        {
            if (_changed)
            {
                Publish();
            }
        }
    }

    private void Resync()
    {
        lock (_gate)
        {
            _neighbours.Clear();
            _routes.Clear();
            _unconfirmed.Clear();
            var request = new NetlinkRequest(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP)
                .Put(new ndmsg { ndm_family = (byte)Interop.Libc.AF_INET, ndm_ifindex = _ifindex });
            _requests.Request(request, "list the neighbours", OnNeighbour);
            Publish();
        }
    }

    private void OnNotification(ushort type, ReadOnlySpan<byte> body)
    {
        lock (_gate)
        {
            if (type is RTM_NEWROUTE or RTM_DELROUTE && NetlinkAttributes.TrySplit<rtmsg>(body, out var route, out _) && route.rtm_family == Interop.Libc.AF_INET)
            {
                _routes.Clear();
                _changed = true;
            }
            else if (type is RTM_NEWNEIGH or RTM_DELNEIGH)
            {
                OnNeighbour(type, body);
            }
        }
    }

    private void OnNeighbour(ushort type, ReadOnlySpan<byte> body)
    {
        if (type is not (RTM_NEWNEIGH or RTM_DELNEIGH) || !NetlinkAttributes.TrySplit<ndmsg>(body, out var message, out var attributes))
        {
            return;
        }
        if (message.ndm_family != Interop.Libc.AF_INET || message.ndm_ifindex != _ifindex || NetlinkAttributes.Read<uint>(attributes, NDA_DST) is not { } address)
        {
            return;
        }
        if (type == RTM_DELNEIGH)
        {
            _changed |= _neighbours.Remove(address);
            _unconfirmed.Remove(address);
            return;
        }
        var mac = NetlinkAttributes.Find(attributes, NDA_LLADDR) is { Length: 6 } lladdr ? FrameRewriter.PackMac(lladdr) : 0;
        var entry = new NeighbourEntry(message.ndm_state, mac);
        if (!_neighbours.TryGetValue(address, out var known) || known != entry)
        {
            _neighbours[address] = entry;
            _changed = true;
            if (entry.Stale)
            {
                _unconfirmed.Add(address);
            }
            else
            {
                _unconfirmed.Remove(address);
            }
        }
    }

    /// <summary>Rebuilds the targets of the data plane's set from the tables (under the gate).</summary>
    private void Publish()
    {
        var active = _dataPlane.Active;
        var targets = new SegmentTarget[active.Count];
        for (var i = 0; i < targets.Length; i++)
        {
            // The ring rewrites IPv4 frames only (an IPv6 frame cannot become IPv4): IPv6 downstreams stay on the stack.
            ref readonly var address = ref active.Addresses[i];
            var hop = address.family == Interop.Libc.AF_INET ? RouteTo(address.v4.sin_addr) : default;
            targets[i] = !hop.OnSegment ? new SegmentTarget(TxPath.Stack, 0)
                : _neighbours.TryGetValue(hop.Address, out var neighbour) && neighbour.Reachable ? new SegmentTarget(TxPath.Ring, neighbour.Mac)
                : new SegmentTarget(TxPath.NeighbourMiss, 0);
            if (hop.OnSegment && _unconfirmed.Remove(hop.Address))
            {
                Confirm(hop.Address);
            }
        }
        Volatile.Write(ref _current, new SegmentTargets(active, targets));
        _changed = false;
    }

    /// <summary>
    /// Has the kernel treat its entry for <paramref name="address"/> as used: a stale one goes to delay and, unless
    /// confirmed meanwhile, to a unicast probe; one whose MAC changed then fails and is resolved afresh.
    /// </summary>
    private void Confirm(uint address)
    {
        var request = new NetlinkRequest(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK)
            .Put(new ndmsg { ndm_family = (byte)Interop.Libc.AF_INET, ndm_ifindex = _ifindex, ndm_flags = NTF_USE })
            .Attribute(NDA_DST, address);
        try
        {
            _requests.Request(request, "confirm a neighbour", (_, _) => { });
        }
        catch (NetlinkException e) when (e.Refused)
        {
            // The entry went meanwhile: nothing to do, its deletion arrives as a notification.
        }
    }

    private NextHop RouteTo(uint address)
    {
        if (_routes.TryGetValue(address, out var known))
        {
            return known;
        }
        var request = new NetlinkRequest(RTM_GETROUTE, NLM_F_REQUEST)
            .Put(new rtmsg { rtm_family = (byte)Interop.Libc.AF_INET, rtm_dst_len = 32 })
            .Attribute(RTA_DST, address);
        var hop = NextHop.Elsewhere;
        try
        {
            _requests.Request(request, "look up a route", (type, body) =>
            {
                if (type != RTM_NEWROUTE || !NetlinkAttributes.TrySplit<rtmsg>(body, out var route, out var attributes))
                {
                    return;
                }
                if (route.rtm_type == RTN_UNICAST && NetlinkAttributes.Read<int>(attributes, RTA_OIF) == _ifindex)
                {
                    hop = new NextHop(true, NetlinkAttributes.Read<uint>(attributes, RTA_GATEWAY) ?? address);
                }
            });
        }
        catch (NetlinkException e) when (e.Refused)
        {
            // No route at all leaves it elsewhere: the kernel then says so to the sender itself.
        }
        _routes[address] = hop;
        return hop;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: following the kernel's neighbours and routes failed; datagrams go through the kernel until a fresh dump succeeds (afxdp_netlink_failures_total)")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception, string listener);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: following the kernel's neighbours and routes again; datagrams to the listener's segment leave from the TX ring")]
    private static partial void LogFollowing(ILogger logger, string listener);
}
