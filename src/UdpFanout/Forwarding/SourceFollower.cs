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
    private const int PollMilliseconds = 100;
    private const int RetryMilliseconds = 1000;

    private readonly ListenerDataPlane _dataPlane;
    private readonly string _listener;
    private readonly ILogger _logger;
    private readonly NetlinkSocket _notifications;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private bool _failing;
    private long _failures;

    /// <summary>Subscribes in the caller's network namespace (the listener's) and follows on its own thread.</summary>
    public SourceFollower(ListenerDataPlane dataPlane, string listener, ILogger logger)
    {
        _dataPlane = dataPlane;
        _listener = listener;
        _logger = logger;
        _notifications = NetlinkSocket.Open(NETLINK_ROUTE, RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE);
        _thread = new Thread(Run) { IsBackground = true, Name = $"{listener}/v6src" };
        _thread.Start();
    }

    /// <summary>The test seam that makes the next burst of notifications fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault { get; } = new();

    /// <summary>How often following the kernel failed and the sources were learnt again from the start.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    public void Dispose()
    {
        _stopping = true;
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
        _notifications.Dispose();
    }

    private void Run()
    {
        while (!_stopping)
        {
            try
            {
                Follow();
            }
            catch (Exception e)
            {
                // Anything at all: a thread that ended here would leave the sources as they are, stale for good.
                Interlocked.Increment(ref _failures);
                if (!_failing)
                {
                    _failing = true;
                    LogFollowFailed(_logger, e, _listener);
                }
                for (var waited = 0; waited < RetryMilliseconds && !_stopping; waited += 10)
                {
                    Thread.Sleep(10);
                }
            }
        }
    }

    private void Follow()
    {
        // After a failure, notifications may have been lost: learn afresh before following again.
        var changed = _failing;
        while (!_stopping)
        {
            if (_notifications.ReceiveNotifications(PollMilliseconds, (_, _) => { }))
            {
                // A burst (an address replaced, a link going down) arrives in several reads: all of it, then one relearn.
                while (_notifications.ReceiveNotifications(0, (_, _) => { }))
                {
                }
                Fault.ThrowIfArmed();
                changed = true;
            }
            var active = _dataPlane.Active;
            if (changed || active.Sources.Stale)
            {
                // A set published meanwhile may have learnt before the change: learn until the one learnt is the active one.
                do
                {
                    active.Sources.Relearn();
                }
                while (!ReferenceEquals(active, active = _dataPlane.Active));
                changed = false;
                if (_failing)
                {
                    _failing = false;
                    LogFollowing(_logger, _listener);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: following the kernel's IPv6 addresses and routes failed; IPv6 datagrams whose learnt source went stale are sent again with the kernel's choice until it works (ipv6_source_follow_failures_total)")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception, string listener);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: following the kernel's IPv6 addresses and routes again")]
    private static partial void LogFollowing(ILogger logger, string listener);
}
