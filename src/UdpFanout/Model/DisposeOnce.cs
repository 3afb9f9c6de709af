namespace UdpFanout.Model;

/// <summary>
/// Lets a Dispose run once. Stop paths may reach an owner twice (a start that failed halfway, then the stop), and
/// for an owner of native memory or a descriptor a second run frees memory twice or closes a number the process
/// has since reused: a crash or a stranger's socket closed, on the way out.
/// </summary>
internal struct DisposeOnce
{
    private int _done;

    /// <summary>True the first time only; thread-safe.</summary>
    public bool First() => Interlocked.Exchange(ref _done, 1) == 0;
}
