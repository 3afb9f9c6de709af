using Microsoft.Extensions.Logging;
using static Interop.Fanout;
using static Interop.Netlink;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// Keeps the tc program's route cache (bpf/include/fanout_route_cache.h) true to what bpf_fib_lookup would answer.
/// It moves a family's epoch on whenever the kernel reports a change a cached route may depend on (routes and policy
/// rules of either family, links, per-device settings such as forwarding, neighbours), once per burst of
/// notifications, and every <see cref="DefaultMaximumAge"/> for what the kernel does not report (a path MTU learnt from
/// ICMP). It sets a family's epoch to 0, which has every datagram looked up, while a route may depend on more than
/// its destination: a policy rule other than the defaults, or a multipath, TOS (IPv4), source (IPv6) or nexthop
/// object route in the tables the default rules look up; and while following fails, until a fresh read.
/// </summary>
internal sealed partial class RouteCacheEpochs : IDisposable
{
    /// <summary>The longest a cached route is used without the epoch moving on.</summary>
    public static readonly TimeSpan DefaultMaximumAge = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often at most the routes of a family are read again while one of them is what keeps it uncached: a dump of
    /// a large table is costly, and staying uncached a while longer is safe.
    /// </summary>
    private const long RouteReadIntervalMs = 1000;

    private static readonly (uint Family, ushort AddressFamily, string Name)[] Families =
    [
        (FANOUT_FAMILY_IPV4, Interop.Libc.AF_INET, "IPv4"),
        (FANOUT_FAMILY_IPV6, Interop.Libc.AF_INET6, "IPv6"),
    ];

    private readonly TcProgram _program;
    private readonly long _maximumAgeMs;
    private readonly string _listener;
    private readonly ILogger _logger;
    private readonly NetlinkSocket _requests;
    private readonly NetlinkSocket _notifications;
    private readonly KernelFollower _follower;
    // Why each family cannot be cached (null: it can), from its rules and from its routes.
    private readonly string?[] _ruleReason = new string?[FANOUT_FAMILY_COUNT];
    private readonly string?[] _routeReason = new string?[FANOUT_FAMILY_COUNT];
    // Read again at the next catch-up: rules after any rule change; routes after a route change while they are the
    // reason, at most once per RouteReadIntervalMs.
    private readonly bool[] _rulesStale = new bool[FANOUT_FAMILY_COUNT];
    private readonly bool[] _routesStale = new bool[FANOUT_FAMILY_COUNT];
    private readonly long[] _routesReadAt = new long[FANOUT_FAMILY_COUNT];
    private readonly ulong[] _current = new ulong[FANOUT_FAMILY_COUNT];
    private bool _changed;
    private long _movedAt;
    private ulong _lastEpoch;

    /// <summary>Opens its netlink sockets in the caller's network namespace (the listener's) and subscribes at once.</summary>
    /// <param name="maximumAge">How often the epochs move on without a change (<see cref="DefaultMaximumAge"/>); tests make it long.</param>
    public RouteCacheEpochs(TcProgram program, string listener, ILogger logger, TimeSpan? maximumAge = null)
    {
        _program = program;
        _maximumAgeMs = (long)(maximumAge ?? DefaultMaximumAge).TotalMilliseconds;
        _listener = listener;
        _logger = logger;
        _requests = NetlinkSocket.Open(NETLINK_ROUTE);
        try
        {
            // Subscribed before the first read, so no change between it and the first wait goes unseen.
            _notifications = NetlinkSocket.Open(NETLINK_ROUTE, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_RULE);
            _notifications.JoinGroup(RTNLGRP_IPV6_RULE);
            _notifications.JoinGroup(RTNLGRP_IPV4_NETCONF);
            _notifications.JoinGroup(RTNLGRP_IPV6_NETCONF);
        }
        catch
        {
            _notifications?.Dispose();
            _requests.Dispose();
            throw;
        }
        _follower = new KernelFollower($"{listener}/routes", WaitForChange, CatchUp, e =>
        {
            // Every datagram looked up until a fresh read: a change may have gone unseen.
            Write(FANOUT_FAMILY_IPV4, 0);
            Write(FANOUT_FAMILY_IPV6, 0);
            LogFollowFailed(logger, e, listener);
        }, () => LogFollowing(logger, listener));
    }

    /// <summary>The test seam that makes the next wait for notifications fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault => _follower.Fault;

    /// <summary>How often following failed and started over with a fresh read.</summary>
    public long Failures => _follower.Failures;

    /// <summary>The epoch last written for <paramref name="family"/> (FANOUT_FAMILY_*), 0 while it is not cached; for tests.</summary>
    public ulong Epoch(uint family) => Volatile.Read(ref _current[family]);

    /// <summary>Reads rules and routes and writes the first epochs, then follows.</summary>
    public void Start()
    {
        _follower.StartAfterFirstRead();
    }

    public void Dispose()
    {
        _follower.Dispose();
        _requests.Dispose();
        _notifications.Dispose();
    }

    /// <summary>Takes in a burst of notifications; true when the epochs must move on (a change, their age) or routes be read again.</summary>
    private bool WaitForChange(int milliseconds)
    {
        if (_notifications.ReceiveNotifications(milliseconds, OnNotification))
        {
            while (_notifications.ReceiveNotifications(0, OnNotification))
            {
            }
        }
        var now = Environment.TickCount64;
        return _changed || now - _movedAt >= _maximumAgeMs || Families.Any(f => RouteReadDue(f.Family, now));
    }

    private bool RouteReadDue(uint family, long now) => _routesStale[family] && now - _routesReadAt[family] >= RouteReadIntervalMs;

    private void OnNotification(ushort type, ReadOnlySpan<byte> body)
    {
        _changed = true;
        if (type is RTM_NEWRULE or RTM_DELRULE && NetlinkAttributes.TrySplit<fib_rule_hdr>(body, out var rule, out _) && IndexOf(rule.family) is { } ruleFamily)
        {
            _rulesStale[ruleFamily] = true;
        }
        else if (type is RTM_NEWROUTE or RTM_DELROUTE && NetlinkAttributes.TrySplit<rtmsg>(body, out var route, out var attributes) && IndexOf(route.rtm_family) is { } routeFamily)
        {
            if (_routeReason[routeFamily] is not null)
            {
                // It may be the route that was the reason going: only a fresh read can tell.
                _routesStale[routeFamily] = true;
            }
            else if (type == RTM_NEWROUTE)
            {
                _routeReason[routeFamily] = RouteReason(route, attributes);
            }
        }
    }

    private void CatchUp(bool afresh)
    {
        var now = Environment.TickCount64;
        foreach (var (family, addressFamily, _) in Families)
        {
            if (afresh || _rulesStale[family])
            {
                _rulesStale[family] = false;
                _ruleReason[family] = ReadRules(addressFamily);
            }
            if (afresh || RouteReadDue(family, now))
            {
                _routesStale[family] = false;
                _routesReadAt[family] = now;
                _routeReason[family] = ReadRoutes(addressFamily);
            }
        }
        _changed = false;
        _movedAt = now;
        foreach (var (family, _, name) in Families)
        {
            var reason = _ruleReason[family] ?? _routeReason[family];
            var was = _current[family];
            Write(family, reason is null ? ++_lastEpoch : 0);
            if (reason is not null && (was != 0 || afresh))
            {
                LogNotCached(_logger, _listener, name, reason);
            }
            else if (reason is null && was == 0 && !afresh)
            {
                LogCached(_logger, _listener, name);
            }
        }
    }

    private void Write(uint family, ulong epoch)
    {
        _program.SetRouteEpoch(family, epoch);
        Volatile.Write(ref _current[family], epoch);
    }

    /// <summary>Why the family's policy rules make routes depend on more than the destination, or null for the defaults.</summary>
    private string? ReadRules(ushort addressFamily)
    {
        string? reason = null;
        var request = new NetlinkRequest(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP).Put(new fib_rule_hdr { family = (byte)addressFamily });
        _requests.Request(request, "list the policy rules", (type, body) =>
        {
            if (type == RTM_NEWRULE && NetlinkAttributes.TrySplit<fib_rule_hdr>(body, out var rule, out var attributes) && !IsDefaultRule(rule, attributes))
            {
                reason ??= $"policy rule {NetlinkAttributes.Read<uint>(attributes, FRA_PRIORITY) ?? 0} is not one of the defaults (ip rule)";
            }
        });
        return reason;
    }

    /// <summary>Why a route of the family in the default rules' tables makes routes depend on more than the destination, or null.</summary>
    private string? ReadRoutes(ushort addressFamily)
    {
        string? reason = null;
        var request = new NetlinkRequest(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP).Put(new rtmsg { rtm_family = (byte)addressFamily });
        _requests.Request(request, "list the routes", (type, body) =>
        {
            if (type == RTM_NEWROUTE && NetlinkAttributes.TrySplit<rtmsg>(body, out var route, out var attributes))
            {
                reason ??= RouteReason(route, attributes);
            }
        });
        return reason;
    }

    /// <summary>
    /// A rule that only looks up one of the default tables, with no selector: the kernel gives every rule its table,
    /// priority, protocol and suppress_prefixlength (-1 when unset) attributes; any other attribute selects or acts.
    /// </summary>
    private static bool IsDefaultRule(fib_rule_hdr rule, ReadOnlySpan<byte> attributes)
    {
        if (rule.action != FR_ACT_TO_TBL || rule.dst_len != 0 || rule.src_len != 0 || rule.tos != 0 || (rule.flags & ~FIB_RULE_PERMANENT) != 0)
        {
            return false;
        }
        foreach (var (type, payload) in NetlinkAttributes.Walk(attributes))
        {
            var plain = type switch
            {
                FRA_PRIORITY or FRA_PROTOCOL => true,
                FRA_TABLE => payload.Length == sizeof(uint) && IsDefaultTable(BitConverter.ToUInt32(payload)),
                FRA_SUPPRESS_PREFIXLEN => payload.Length == sizeof(uint) && BitConverter.ToUInt32(payload) == uint.MaxValue,
                _ => false,
            };
            if (!plain)
            {
                return false;
            }
        }
        return true;
    }

    private static string? RouteReason(rtmsg route, ReadOnlySpan<byte> attributes)
    {
        // Routes of other tables are looked up only through rules other than the defaults, which are a reason already.
        if (!IsDefaultTable(NetlinkAttributes.Read<uint>(attributes, RTA_TABLE) ?? route.rtm_table))
        {
            return null;
        }
        if (!NetlinkAttributes.Find(attributes, RTA_MULTIPATH).IsEmpty)
        {
            return "a multipath route, whose next hop depends on each datagram's hash";
        }
        if (NetlinkAttributes.Read<uint>(attributes, RTA_NH_ID) is not null)
        {
            return "a route through a nexthop object, which may be a group";
        }
        if (route.rtm_tos != 0)
        {
            return "a route selected by TOS";
        }
        return route.rtm_src_len != 0 ? "a route selected by source address" : null;
    }

    private static bool IsDefaultTable(uint table) => table is RT_TABLE_DEFAULT or RT_TABLE_MAIN or RT_TABLE_LOCAL;

    private static uint? IndexOf(byte addressFamily) => addressFamily switch
    {
        (byte)Interop.Libc.AF_INET => FANOUT_FAMILY_IPV4,
        (byte)Interop.Libc.AF_INET6 => FANOUT_FAMILY_IPV6,
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: {Family} routes are looked up for every datagram, not cached: {Reason}")]
    private static partial void LogNotCached(ILogger logger, string listener, string family, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: {Family} routes are cached again")]
    private static partial void LogCached(ILogger logger, string listener, string family);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: following the kernel's routes failed; every datagram is looked up until a fresh read succeeds (tc_route_follow_failures_total)")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception, string listener);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: following the kernel's routes again; routes are cached where they can be")]
    private static partial void LogFollowing(ILogger logger, string listener);
}
