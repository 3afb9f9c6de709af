namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// What one send forwarded to each downstream, added to the downstreams' shared counters once per send rather than
/// once per datagram (those counters are shared with the listener's other workers).
/// </summary>
internal sealed class DownstreamTally
{
    private long[] _packets = new long[16];
    private long[] _bytes = new long[16];

    /// <summary>Makes room for a set of <paramref name="count"/>: only when a larger set arrives, never per datagram.</summary>
    public void Fit(int count)
    {
        if (_packets.Length < count)
        {
            _packets = new long[count];
            _bytes = new long[count];
        }
    }

    public void Add(int target, long bytes)
    {
        _packets[target]++;
        _bytes[target] += bytes;
    }

    /// <summary>Hands what was tallied to <paramref name="downstreams"/>' counters and starts again from zero.</summary>
    public void MoveTo(ActiveDownstreams downstreams)
    {
        for (var t = 0; t < downstreams.Count; t++)
        {
            if (_packets[t] != 0)
            {
                downstreams.Counters[t].Add(_packets[t], _bytes[t]);
                _packets[t] = 0;
                _bytes[t] = 0;
            }
        }
    }
}
