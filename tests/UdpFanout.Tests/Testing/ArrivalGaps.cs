using System.Diagnostics;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Watches a count of arrivals every millisecond and keeps the longest stretches in which it did not move: under a
/// steady sender, the time datagrams waited rather than moved (a restart's gap).
/// </summary>
internal sealed class ArrivalGaps
{
    private readonly Func<long> _count;
    private readonly Thread _thread;
    private readonly List<TimeSpan> _gaps = [];
    private volatile bool _stop;

    public ArrivalGaps(Func<long> count)
    {
        _count = count;
        _thread = new Thread(Run) { IsBackground = true, Name = "arrival-gaps" };
        _thread.Start();
    }

    /// <summary>Stops watching; the three longest gaps, longest first.</summary>
    public IReadOnlyList<TimeSpan> Stop()
    {
        _stop = true;
        _thread.Join();
        return _gaps.OrderDescending().Take(3).ToArray();
    }

    private void Run()
    {
        var clock = Stopwatch.StartNew();
        var last = _count();
        var since = clock.Elapsed;
        while (!_stop)
        {
            Thread.Sleep(1);
            var now = _count();
            if (now != last)
            {
                _gaps.Add(clock.Elapsed - since);
                (last, since) = (now, clock.Elapsed);
            }
        }
    }
}
