using UdpFanout.Balancing;
using UdpFanout.Model;

namespace UdpFanout.Forwarding;

/// <summary>
/// Adds up the counters of a listener's parts (workers, queue forwarders, a kernel program, the fragment
/// fallback, instances retired by a reload) into one <see cref="ListenerStats"/>. A scrape keeps one builder and reads
/// it directly after <see cref="Clear"/> and the adds: its dictionaries keep their room, so a scrape of 10,000
/// downstreams allocates nothing that grows with them (a snapshot by <see cref="Build"/> copies them all).
/// </summary>
internal sealed class StatsBuilder
{
    private static readonly IcmpError[] IcmpErrorTypes = Enum.GetValues<IcmpError>();

    private readonly long[] _dropped = new long[DropReasonLabels.Count];
    private readonly Dictionary<Downstream, (long Packets, long Bytes)> _downstreams = [];
    private readonly Dictionary<(string Name, string Labels), ModeCounter> _modeCounters = [];
    private readonly Dictionary<(Downstream Downstream, IcmpError Type), long> _icmpErrors = [];
    private readonly Dictionary<string, ModeInfo> _modeInfos = [];
    private long _received;
    private long _receivedBytes;
    private long _forwarded;
    private long _forwardedBytes;

    public long Received => _received;

    public long ReceivedBytes => _receivedBytes;

    public long Forwarded => _forwarded;

    public long ForwardedBytes => _forwardedBytes;

    /// <summary>Indexed by <see cref="DropReason"/>.</summary>
    public IReadOnlyList<long> Dropped => _dropped;

    public IReadOnlyDictionary<Downstream, (long Packets, long Bytes)> Downstreams => _downstreams;

    /// <summary>Only non-zero counts.</summary>
    public IReadOnlyDictionary<(Downstream Downstream, IcmpError Type), long> IcmpErrors => _icmpErrors;

    public IReadOnlyCollection<ModeCounter> ModeCounters => _modeCounters.Values;

    public IReadOnlyCollection<ModeInfo> ModeInfos => _modeInfos.Values;

    /// <summary>Starts over at zero; the dictionaries keep their capacity for the next reading.</summary>
    public StatsBuilder Clear()
    {
        Array.Clear(_dropped);
        _downstreams.Clear();
        _modeCounters.Clear();
        _icmpErrors.Clear();
        _modeInfos.Clear();
        _received = _receivedBytes = _forwarded = _forwardedBytes = 0;
        return this;
    }

    /// <summary>
    /// Reads forwarded and dropped before received: a worker adds received first, so the snapshot never shows
    /// more datagrams out than in.
    /// </summary>
    public StatsBuilder Add(WorkerCounters counters)
    {
        _forwarded += Volatile.Read(ref counters.Forwarded);
        _forwardedBytes += Volatile.Read(ref counters.ForwardedBytes);
        for (var r = 0; r < _dropped.Length; r++)
        {
            _dropped[r] += Volatile.Read(ref counters.Dropped[r]);
        }
        _received += Volatile.Read(ref counters.Received);
        _receivedBytes += Volatile.Read(ref counters.ReceivedBytes);
        return Add(ModeCounter.StaleSources(Volatile.Read(ref counters.StaleSources)));
    }

    public StatsBuilder Add(ListenerStats stats)
    {
        _received += stats.Received;
        _receivedBytes += stats.ReceivedBytes;
        _forwarded += stats.Forwarded;
        _forwardedBytes += stats.ForwardedBytes;
        for (var r = 0; r < _dropped.Length; r++)
        {
            _dropped[r] += stats.Dropped[r];
        }
        foreach (var d in stats.Downstreams)
        {
            AddDownstream(d.Downstream, d.Packets, d.Bytes);
        }
        foreach (var counter in stats.ModeCounters)
        {
            Add(counter);
        }
        foreach (var errors in stats.IcmpErrors)
        {
            AddIcmpErrors(errors.Downstream, errors.Type, errors.Count);
        }
        foreach (var info in stats.ModeInfos)
        {
            Add(info);
        }
        return this;
    }

    /// <summary>What a data path in userspace sent one downstream and the ICMP errors that came back for it.</summary>
    public StatsBuilder AddDownstream(Downstream downstream, DownstreamCounter counter)
    {
        AddDownstream(downstream, counter.Packets, counter.Bytes);
        foreach (var type in IcmpErrorTypes)
        {
            AddIcmpErrors(downstream, type, counter.IcmpErrorsOf(type));
        }
        return this;
    }

    public StatsBuilder AddIcmpErrors(Downstream downstream, IcmpError type, long count)
    {
        if (count != 0)
        {
            _icmpErrors[(downstream, type)] = _icmpErrors.GetValueOrDefault((downstream, type)) + count;
        }
        return this;
    }

    public StatsBuilder AddReceived(long packets, long bytes)
    {
        _received += packets;
        _receivedBytes += bytes;
        return this;
    }

    public StatsBuilder AddForwarded(long packets, long bytes)
    {
        _forwarded += packets;
        _forwardedBytes += bytes;
        return this;
    }

    public StatsBuilder AddDropped(DropReason reason, long packets)
    {
        _dropped[(int)reason] += packets;
        return this;
    }

    public StatsBuilder AddDownstream(Downstream downstream, long packets, long bytes)
    {
        _downstreams[downstream] = _downstreams.TryGetValue(downstream, out var t) ? (t.Packets + packets, t.Bytes + bytes) : (packets, bytes);
        return this;
    }

    /// <summary>Counters with the same name and labels add up.</summary>
    public StatsBuilder Add(ModeCounter counter)
    {
        var key = (counter.Name, string.Join(',', counter.Labels ?? []));
        _modeCounters[key] = _modeCounters.TryGetValue(key, out var existing) ? existing with { Value = existing.Value + counter.Value } : counter;
        return this;
    }

    /// <summary>Infos are facts, not counts: the same one from two parts is one.</summary>
    public StatsBuilder Add(ModeInfo info)
    {
        _modeInfos[info.Key] = info;
        return this;
    }

    public ListenerStats Build() => new()
    {
        Received = _received,
        ReceivedBytes = _receivedBytes,
        Forwarded = _forwarded,
        ForwardedBytes = _forwardedBytes,
        Dropped = (long[])_dropped.Clone(),
        Downstreams = _downstreams.Select(d => new DownstreamStats(d.Key, d.Value.Packets, d.Value.Bytes)).ToArray(),
        ModeCounters = _modeCounters.Values.ToArray(),
        ModeInfos = _modeInfos.Values.ToArray(),
        IcmpErrors = _icmpErrors.Select(e => new DownstreamIcmpErrors(e.Key.Downstream, e.Key.Type, e.Value)).ToArray(),
    };
}
