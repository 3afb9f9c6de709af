using UdpFanout.Balancing;
using UdpFanout.Forwarding;

namespace UdpFanout.Metrics;

/// <summary>
/// The series of each downstream (what it was sent, its ICMP errors, whether it is up, its weight), written straight
/// into the scrape by <see cref="ExpositionWriter"/> instead of kept as prometheus-net children: with 10,000
/// downstreams those were 40,000 objects with cached label strings, and rendering them took most of a scrape.
/// Each scrape gathers the rows afresh from the counters and the rotations (so a series exists exactly while its
/// subject does), into lists whose capacity is kept for the next scrape. Not thread-safe: one scrape at a time.
/// </summary>
internal sealed class DownstreamSeries
{
    public const string PacketsForwarded = "udp_fanout_downstream_packets_forwarded_total";
    public const string BytesForwarded = "udp_fanout_downstream_bytes_forwarded_total";
    public const string IcmpErrors = "udp_fanout_downstream_icmp_errors_total";
    public const string Up = "udp_fanout_downstream_up";
    public const string Weight = "udp_fanout_downstream_weight";

    // Each row's labels (listener, mode, downstream, address) are formatted once, when the row is added, into one
    // arena kept with its room for the next scrape, and copied from there into each family's line.
    private readonly List<(Range Labels, long Packets, long Bytes)> _sent = [];
    private readonly List<(Range Labels, DownstreamIcmpErrors Errors)> _icmpErrors = [];
    private readonly List<(Range Labels, bool Up, int Weight)> _health = [];
    private readonly ExpositionWriter _writer = new();
    private byte[] _arena = new byte[4096];
    private int _arenaLength;

    /// <summary>Forgets the rows of the last scrape; the lists and the arena keep their room.</summary>
    public void BeginScrape()
    {
        _sent.Clear();
        _icmpErrors.Clear();
        _health.Clear();
        _arenaLength = 0;
    }

    public void AddSent(string listener, string mode, DownstreamStats stats) => _sent.Add((Encode(listener, mode, stats.Downstream), stats.Packets, stats.Bytes));

    public void AddIcmpErrors(string listener, string mode, DownstreamIcmpErrors errors) => _icmpErrors.Add((Encode(listener, mode, errors.Downstream), errors));

    public void AddHealth(string listener, string mode, Downstream downstream, bool up) => _health.Add((Encode(listener, mode, downstream), up, downstream.Weight));

    /// <summary>Writes the five families, each whole, with its HELP and TYPE even when it has no series.</summary>
    public void WriteTo(Stream destination)
    {
        _writer.Begin(destination);
        _writer.Family(PacketsForwarded, "Datagrams forwarded to one downstream.", "counter");
        foreach (var (labels, packets, _) in _sent)
        {
            _writer.Sample(PacketsForwarded).Labels(_arena.AsSpan(labels)).Value(packets);
        }
        _writer.Family(BytesForwarded, "UDP payload bytes forwarded to one downstream.", "counter");
        foreach (var (labels, _, bytes) in _sent)
        {
            _writer.Sample(BytesForwarded).Labels(_arena.AsSpan(labels)).Value(bytes);
        }
        _writer.Family(IcmpErrors, "ICMP errors the network returned for datagrams sent to one downstream (already counted as forwarded: they had left), by ICMP type.", "counter");
        foreach (var (labels, errors) in _icmpErrors)
        {
            _writer.Sample(IcmpErrors).Labels(_arena.AsSpan(labels)).Label("type", errors.Type.MetricLabel()).Value(errors.Count);
        }
        _writer.Family(Up, "1 while a downstream is in the rotation, 0 while health checks keep it out.", "gauge");
        foreach (var (labels, up, _) in _health)
        {
            _writer.Sample(Up).Labels(_arena.AsSpan(labels)).Value(up ? 1 : 0);
        }
        _writer.Family(Weight, "A downstream's configured weight; 0 while it is drained.", "gauge");
        foreach (var (labels, _, weight) in _health)
        {
            _writer.Sample(Weight).Labels(_arena.AsSpan(labels)).Value(weight);
        }
    }

    private Range Encode(string listener, string mode, Downstream downstream)
    {
        var labels = _writer.Label("listener", listener, first: true).Label("mode", mode)
            .Label("downstream", downstream.Name).Label("address", downstream.Endpoint).TakeLabels();
        if (_arena.Length - _arenaLength < labels.Length)
        {
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaLength + labels.Length));
        }
        labels.CopyTo(_arena.AsSpan(_arenaLength));
        var range = new Range(_arenaLength, _arenaLength + labels.Length);
        _arenaLength += labels.Length;
        return range;
    }
}
