namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// The route MTU of each downstream of the set being sent to, asked once per downstream and set, and asked again
/// when a datagram does not fit a value older than <see cref="RefreshMilliseconds"/>: a route or device MTU may
/// have grown since. A raw sender fragments at it, since the kernel does not fragment what a raw socket hands it.
/// </summary>
internal sealed class DownstreamMtus : IDisposable
{
    private const long RefreshMilliseconds = 10_000;

    private readonly RouteMtu _routes = new();
    private ActiveDownstreams? _set;
    // 0 until a datagram to the downstream needs one.
    private int[] _mtu = [];
    private long[] _checkedAt = [];

    /// <summary>The MTU towards <paramref name="target"/> for a datagram that needs <paramref name="needed"/> bytes.</summary>
    public int For(ActiveDownstreams downstreams, int target, int needed)
    {
        Track(downstreams);
        var mtu = _mtu[target];
        if (mtu != 0 && (needed <= mtu || Environment.TickCount64 - _checkedAt[target] < RefreshMilliseconds))
        {
            return mtu;
        }
        return Refresh(downstreams, target);
    }

    /// <summary>Asks the kernel now: after it refused a datagram as larger than the device's MTU.</summary>
    public int Refresh(ActiveDownstreams downstreams, int target)
    {
        Track(downstreams);
        var mtu = _routes.Of(downstreams.Addresses[target]);
        _mtu[target] = mtu;
        _checkedAt[target] = Environment.TickCount64;
        return mtu;
    }

    public void Dispose() => _routes.Dispose();

    private void Track(ActiveDownstreams downstreams)
    {
        if (!ReferenceEquals(downstreams, _set))
        {
            _set = downstreams;
            _mtu = new int[downstreams.Count];
            _checkedAt = new long[downstreams.Count];
        }
    }
}
