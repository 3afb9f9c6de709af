namespace UdpFanout.Forwarding;

/// <summary>
/// The thread that keeps a listener's view of some kernel state (neighbours and routes, IPv6 addresses, the
/// interfaces that take XDP frames) current: it waits for the kernel to say something changed, then brings the view
/// up to date. Any failure at all (a netlink socket that fell behind and lost notifications, a dump that failed, a
/// bug) is counted, handed to its owner once until it is over, and followed by a catch-up afresh, a second later
/// and at that pace while it keeps failing: after lost notifications only a fresh read knows what holds. The view
/// may go stale for a while; the thread never ends before its owner stops it.
/// </summary>
internal sealed class KernelFollower : IDisposable
{
    /// <summary>How long a wait for a change lasts before the thread looks whether it is stopping.</summary>
    public const int WaitMilliseconds = 100;

    private const int RetryMilliseconds = 1000;

    private readonly Func<int, bool> _waitForChange;
    private readonly Action<bool> _catchUp;
    private readonly Action<Exception> _failed;
    private readonly Action _recovered;
    private readonly Thread _thread;
    private volatile bool _stopping;
    // Set by a failure on any thread, taken by the catch-up that answers it.
    private int _afresh;
    private volatile bool _failing;
    private long _failures;

    /// <param name="name">The thread's name, "&lt;listener&gt;/&lt;what&gt;" as ps and the logs show it.</param>
    /// <param name="waitForChange">Waits up to the given milliseconds; true when the view needs a catch-up.</param>
    /// <param name="catchUp">Brings the view up to date; true: afresh, after a failure, trusting nothing kept.</param>
    /// <param name="failed">Told of the first failure of a run of them (to log it and make the view safe meanwhile).</param>
    /// <param name="recovered">Told when a catch-up afresh has succeeded after failures.</param>
    public KernelFollower(string name, Func<int, bool> waitForChange, Action<bool> catchUp, Action<Exception> failed, Action recovered)
    {
        _waitForChange = waitForChange;
        _catchUp = catchUp;
        _failed = failed;
        _recovered = recovered;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
    }

    /// <summary>The test seam that makes the thread fail after its next wait (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault { get; } = new();

    /// <summary>How often following failed and the view was caught up afresh.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>From a failure until the catch-up afresh after it has succeeded.</summary>
    public bool Failing => _failing;

    public void Start() => _thread.Start();

    /// <summary>
    /// Reads the view afresh on the caller's thread, so that it holds before anything uses it, then follows. A failed
    /// first read is counted and said like any other, and the thread reads afresh again a moment later.
    /// </summary>
    public void StartAfterFirstRead()
    {
        try
        {
            _catchUp(true);
        }
        catch (Exception e)
        {
            Fail(e);
        }
        Start();
    }

    /// <summary>
    /// A failure met outside the thread (a first read before it starts, a refresh on a reload's thread): counted and
    /// said like the thread's own, and the thread catches up afresh.
    /// </summary>
    public void Fail(Exception error)
    {
        Interlocked.Increment(ref _failures);
        Volatile.Write(ref _afresh, 1);
        if (!_failing)
        {
            _failing = true;
            _failed(error);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
    }

    private void Run()
    {
        while (!_stopping)
        {
            try
            {
                var afresh = Interlocked.Exchange(ref _afresh, 0) == 1;
                if (!afresh)
                {
                    var changed = _waitForChange(WaitMilliseconds);
                    Fault.ThrowIfArmed();
                    if (!changed)
                    {
                        continue;
                    }
                }
                _catchUp(afresh);
                if (afresh && _failing && Volatile.Read(ref _afresh) == 0)
                {
                    _failing = false;
                    _recovered();
                }
            }
            catch (Exception e)
            {
                Fail(e);
                for (var waited = 0; waited < RetryMilliseconds && !_stopping; waited += 10)
                {
                    Thread.Sleep(10);
                }
            }
        }
    }
}
