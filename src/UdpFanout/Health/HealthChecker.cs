using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// Probes one listener's downstreams every interval, each at its own offset so probes spread over the interval,
/// and tells the rotation when some go down or come back. One thread does it all for the listener: it takes the
/// probes that are due from one sorted schedule, sends them in batches from long-lived sockets (one per address family), reads the
/// replies in batches, and expires unanswered probes from one deadline queue. So a probe costs a share of a few
/// system calls, not a socket, a timer and a task of its own. Every change is logged once, many as one summary.
/// </summary>
internal sealed partial class HealthChecker : IAsyncDisposable
{
    /// <summary>
    /// Rounds run at most this often, so the replies of many downstreams are read in one batch and the thread wakes
    /// 20 times a second, not once per probe: at 10,000 downstreams the wake-ups cost more than the probes' batching
    /// saves below this. A probe goes out at most this late and a timeout is noticed at most this late.
    /// </summary>
    private static readonly TimeSpan MinRound = TimeSpan.FromMilliseconds(50);
    /// <summary>The longest wait, after which the loop looks at its schedule and whether to stop anyway.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromMilliseconds(100);
    /// <summary>
    /// Changes are logged at most once per this window, each direction in one line: a thousand downstreams that go
    /// down over a second of probes make one line, not one per round that saw some of them go.
    /// </summary>
    private static readonly TimeSpan LogWindow = TimeSpan.FromSeconds(1);

    private readonly string _listener;
    private readonly HealthConfig _config;
    private readonly Func<ProbeSocket> _openSocket;
    private readonly DownstreamRotation _rotation;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly long _interval;
    private readonly long _timeout;
    private readonly Lock _gate = new();
    private readonly Dictionary<Downstream, ProbedDownstream> _probing = [];
    private readonly ProbeSchedule _schedule;
    private readonly InFlightProbes _inFlight = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private volatile bool _stopping;
    private ProbeSocket? _socket;
    private bool _socketFailing;
    private bool _loopFailing;
    private ushort _sequence;
    private readonly List<Downstream> _loggedDown = [];
    private readonly List<Downstream> _loggedUp = [];
    private long _lastLogged = long.MinValue;
    private long _probeErrors;

    public HealthChecker(string listener, HealthConfig config, Func<ProbeSocket> openSocket, DownstreamRotation rotation, TimeProvider time, ILogger logger)
    {
        _listener = listener;
        _config = config;
        _openSocket = openSocket;
        _rotation = rotation;
        _time = time;
        _logger = logger;
        _interval = Math.Max(1, (long)(config.Interval.TotalSeconds * time.TimestampFrequency));
        _timeout = (long)(config.Timeout.TotalSeconds * time.TimestampFrequency);
        _schedule = new ProbeSchedule(_interval);
        // Opened here, on the caller's thread, so the socket lives in the caller's network namespace; when it
        // cannot open now (out of descriptors), the loop tries again each round.
        TryOpenSocket();
        _thread = new Thread(Run) { IsBackground = true, Name = $"{listener}/health" };
        _thread.Start();
    }

    /// <summary>Probes that could not run at all (no socket, say), each counted as a failed probe too.</summary>
    public long ProbeErrors => Interlocked.Read(ref _probeErrors);

    public static Func<ProbeSocket> ProbeFor(HealthConfig config) =>
        config.Protocol == HealthProtocol.Icmp ? IcmpEchoSocket.Open : UdpEchoSocket.Open;

    /// <summary>Starts probing downstreams that joined, spread over the next interval, and stops probing those that left.</summary>
    public void Track(IReadOnlyCollection<Downstream> downstreams)
    {
        var wanted = downstreams.ToHashSet();
        lock (_gate)
        {
            foreach (var (downstream, target) in _probing)
            {
                if (!wanted.Contains(downstream))
                {
                    target.Tracked = false;
                    _probing.Remove(downstream);
                }
            }
            var now = _time.GetTimestamp();
            // A downstream out of the rotation before probing began (restored from the previous process) stays out
            // until healthy_threshold probes succeed, as if this checker had taken it out.
            var down = _rotation.Down.ToHashSet();
            var index = 0;
            foreach (var downstream in downstreams)
            {
                if (!_probing.ContainsKey(downstream))
                {
                    var destination = sockaddr_inet.From(new(downstream.Endpoint.Address,
                        _config.Protocol == HealthProtocol.Icmp ? 0 : _config.ProbePort ?? downstream.Endpoint.Port));
                    var target = new ProbedDownstream(downstream, destination, new DownstreamHealth(_config.UnhealthyThreshold, _config.HealthyThreshold, up: !down.Contains(downstream)));
                    _probing[downstream] = target;
                    _schedule.Add(target, now + _interval * index / Math.Max(1, downstreams.Count));
                }
                index++;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        await _stopped.Task;
    }

    /// <summary>The loop. It survives everything: what fails in a round is logged once and the next round runs.</summary>
    private void Run()
    {
        var round = new HealthRound();
        try
        {
            while (!_stopping)
            {
                var started = _time.GetTimestamp();
                try
                {
                    if (RunRound(started, round) && _loopFailing)
                    {
                        _loopFailing = false;
                        LogLoopRunsAgain(_logger, _listener);
                    }
                }
                catch (Exception e)
                {
                    // A bug, not trouble of the network: the socket stays, the probes of this round expire.
                    if (!_loopFailing)
                    {
                        _loopFailing = true;
                        LogLoopFailed(_logger, _listener, UserFixableException.Describe(e));
                    }
                }
                finally
                {
                    round.Clear();
                }
                Wait(started);
            }
        }
        finally
        {
            _socket?.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>Runs one round; true when it had probes to send, so a round that ran them all says the loop works.</summary>
    private bool RunRound(long now, HealthRound round)
    {
        lock (_gate)
        {
            _schedule.TakeDue(now, round.Due);
        }
        var probing = round.Due.Count > 0;
        if (round.Due.Count > 0 && _socket is null && !TryOpenSocket())
        {
            // No socket, so these probes cannot run: each counts as failed, so a downstream the checker cannot
            // see leaves the rotation instead of staying up for good.
            Interlocked.Add(ref _probeErrors, round.Due.Count);
            foreach (var target in round.Due)
            {
                Record(target, false, round);
            }
            round.Due.Clear();
        }
        if (_socket is { } socket)
        {
            SendDue(socket, now, round);
            ReceiveReplies(socket, round);
        }
        // After the replies that arrived up to now were read: a reply that came in time is never taken for a timeout.
        _inFlight.Expire(now, round.Expired);
        foreach (var target in round.Expired)
        {
            Record(target, false, round);
        }
        Apply(round);
        LogChanges(now);
        return probing;
    }

    private void SendDue(ProbeSocket socket, long now, HealthRound round)
    {
        var probes = round.Outgoing;
        for (var start = 0; start < round.Due.Count; start += probes.Length)
        {
            var count = Math.Min(probes.Length, round.Due.Count - start);
            ProbeTokens.Fill(round.Tokens);
            for (var i = 0; i < count; i++)
            {
                probes[i] = new OutgoingProbe
                {
                    Destination = round.Due[start + i].Destination,
                    Token = System.Runtime.InteropServices.MemoryMarshal.Read<UInt128>(round.Tokens.AsSpan(i * 16)),
                    Sequence = socket.UsesSequence ? ++_sequence : (ushort)0,
                };
            }
            socket.Send(probes.AsSpan(0, count));
            for (var i = 0; i < count; i++)
            {
                var target = round.Due[start + i];
                if (probes[i].Sent)
                {
                    _inFlight.Add(target, probes[i], now + _timeout);
                }
                else
                {
                    Record(target, false, round);
                }
            }
        }
    }

    private void ReceiveReplies(ProbeSocket socket, HealthRound round)
    {
        bool more;
        do
        {
            var count = socket.Receive(round.Replies, out more);
            for (var i = 0; i < count; i++)
            {
                if (_inFlight.Complete(round.Replies[i], socket) is { } target)
                {
                    Record(target, true, round);
                }
            }
        }
        while (more);
    }

    private void Record(ProbedDownstream target, bool success, HealthRound round)
    {
        if (target.Tracked && target.Health.Record(success))
        {
            (target.Health.Up ? round.CameUp : round.WentDown).Add(target.Downstream);
        }
    }

    /// <summary>
    /// Hands the round's verdicts to the rotation as one change and logs them. The data path may refuse the new set
    /// (a BPF map update that fails), which is logged and leaves the loop running: the rotation holds the verdict,
    /// and its next change carries it.
    /// </summary>
    private void Apply(HealthRound round)
    {
        if (round.CameUp.Count == 0 && round.WentDown.Count == 0)
        {
            return;
        }
        _loggedDown.AddRange(round.WentDown);
        _loggedUp.AddRange(round.CameUp);
        try
        {
            _rotation.SetHealth([.. round.WentDown.Select(d => (d, false)), .. round.CameUp.Select(d => (d, true))]);
        }
        catch (Exception e)
        {
            var changed = round.WentDown.Concat(round.CameUp).ToArray();
            LogApplyFailed(_logger, _listener, changed.Length, DownstreamNames.Summary(changed), UserFixableException.Describe(e));
        }
    }

    private void LogChanges(long now)
    {
        if ((_loggedDown.Count == 0 && _loggedUp.Count == 0)
            || (_lastLogged != long.MinValue && _time.GetElapsedTime(_lastLogged, now) < LogWindow))
        {
            return;
        }
        _lastLogged = now;
        LogVerdicts(_loggedDown, up: false);
        LogVerdicts(_loggedUp, up: true);
        _loggedDown.Clear();
        _loggedUp.Clear();
    }

    private void LogVerdicts(IReadOnlyList<Downstream> changed, bool up)
    {
        if (changed.Count == 1)
        {
            var d = changed[0];
            if (up)
            {
                LogUp(_logger, _listener, d.Name, d.Endpoint.ToString(), _config.HealthyThreshold);
            }
            else
            {
                LogDown(_logger, _listener, d.Name, d.Endpoint.ToString(), _config.UnhealthyThreshold);
            }
        }
        else if (changed.Count > 1)
        {
            if (up)
            {
                LogManyUp(_logger, _listener, changed.Count, _config.HealthyThreshold, DownstreamNames.Summary(changed));
            }
            else
            {
                LogManyDown(_logger, _listener, changed.Count, _config.UnhealthyThreshold, DownstreamNames.Summary(changed));
            }
        }
    }

    private bool TryOpenSocket()
    {
        try
        {
            _socket = _openSocket();
            if (_socketFailing)
            {
                _socketFailing = false;
                LogProbesRunAgain(_logger, _listener);
            }
            return true;
        }
        catch (Exception e)
        {
            if (!_socketFailing)
            {
                _socketFailing = true;
                LogProbesCannotRun(_logger, _listener, UserFixableException.Describe(e));
            }
            return false;
        }
    }

    /// <summary>
    /// Until the next probe is due or the next deadline passes, waking early for replies, but no sooner than
    /// <see cref="MinRound"/> after the last round began, so replies are read many at a time.
    /// </summary>
    private void Wait(long started)
    {
        long next;
        lock (_gate)
        {
            next = Math.Min(_schedule.NextDue, _inFlight.NextDeadline == long.MaxValue ? long.MaxValue : _inFlight.NextDeadline + 1);
        }
        var minimum = started + (long)(MinRound.TotalSeconds * _time.TimestampFrequency);
        var now = _time.GetTimestamp();
        if (now < minimum)
        {
            Thread.Sleep(_time.GetElapsedTime(now, minimum));
            now = _time.GetTimestamp();
        }
        var wait = next == long.MaxValue ? MaxWait : _time.GetElapsedTime(now, Math.Max(now, next));
        var milliseconds = (int)Math.Ceiling(Math.Min(wait.TotalMilliseconds, MaxWait.TotalMilliseconds));
        if (milliseconds <= 0 || _stopping)
        {
            return;
        }
        if (_socket is { } socket)
        {
            socket.WaitReadable(milliseconds);
        }
        else
        {
            Thread.Sleep(milliseconds);
        }
    }
}
