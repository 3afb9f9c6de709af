using System.Diagnostics;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Watches a count of arrivals every millisecond and records each stretch in which it did not move: under a
/// steady sender, the time datagrams waited rather than moved (a restart's gap).
/// </summary>
internal sealed class ArrivalGaps : IDisposable
{
    private readonly Func<long> _count;
    private readonly Thread _thread;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(TimeSpan Start, TimeSpan Length)> _gaps = [];
    private readonly Lock _gate = new();
    private volatile bool _stop;

    public ArrivalGaps(Func<long> count)
    {
        _count = count;
        _thread = new Thread(Run) { IsBackground = true, Name = "arrival-gaps" };
        _thread.Start();
    }

    /// <summary>Time since watching began, to mark the start and end of an operation.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>The longest gap that began between <paramref name="from"/> and <paramref name="to"/>.</summary>
    public TimeSpan Longest(TimeSpan from, TimeSpan to)
    {
        lock (_gate)
        {
            return _gaps.Where(g => g.Start >= from && g.Start < to).Select(g => g.Length).DefaultIfEmpty().Max();
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }

    private void Run()
    {
        var last = _count();
        var since = _clock.Elapsed;
        while (!_stop)
        {
            Thread.Sleep(1);
            var now = _count();
            if (now != last)
            {
                lock (_gate)
                {
                    _gaps.Add((since, _clock.Elapsed - since));
                }
                (last, since) = (now, _clock.Elapsed);
            }
        }
    }
}
