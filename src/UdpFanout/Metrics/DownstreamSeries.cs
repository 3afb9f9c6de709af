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

    // Each row keeps what its labels are made of (the listener's and mode's strings are shared by all its rows), and
    // the labels are written anew into each family's line: formatted once into a kept arena, they were the larger
    // part of what the metrics held between scrapes, about 200 bytes per downstream.
    private readonly List<(Row Of, long Packets, long Bytes)> _sent = [];
    private readonly List<(Row Of, DownstreamIcmpErrors Errors)> _icmpErrors = [];
    private readonly List<(Row Of, bool Up, int Weight)> _health = [];
    private readonly ExpositionWriter _writer = new();

    /// <summary>Forgets the rows of the last scrape; the lists keep their room.</summary>
    public void BeginScrape()
    {
        _sent.Clear();
        _icmpErrors.Clear();
        _health.Clear();
    }

    public void AddSent(string listener, string mode, DownstreamStats stats) => _sent.Add((new(listener, mode, stats.Downstream), stats.Packets, stats.Bytes));

    public void AddIcmpErrors(string listener, string mode, DownstreamIcmpErrors errors) => _icmpErrors.Add((new(listener, mode, errors.Downstream), errors));

    public void AddHealth(string listener, string mode, Downstream downstream, bool up) => _health.Add((new(listener, mode, downstream), up, downstream.Weight));

    /// <summary>Writes the five families, each whole, with its HELP and TYPE even when it has no series.</summary>
    public void WriteTo(Stream destination)
    {
        _writer.Begin(destination);
        _writer.Family(PacketsForwarded, "Datagrams forwarded to one downstream.", "counter");
        foreach (var (of, packets, _) in _sent)
        {
            Sample(PacketsForwarded, of).Value(packets);
        }
        _writer.Family(BytesForwarded, "UDP payload bytes forwarded to one downstream.", "counter");
        foreach (var (of, _, bytes) in _sent)
        {
            Sample(BytesForwarded, of).Value(bytes);
        }
        _writer.Family(IcmpErrors, "ICMP errors the network returned for datagrams sent to one downstream (already counted as forwarded: they had left), by ICMP type.", "counter");
        foreach (var (of, errors) in _icmpErrors)
        {
            Sample(IcmpErrors, of).Label("type", errors.Type.MetricLabel()).Value(errors.Count);
        }
        _writer.Family(Up, "1 while a downstream is in the rotation, 0 while health checks keep it out.", "gauge");
        foreach (var (of, up, _) in _health)
        {
            Sample(Up, of).Value(up ? 1 : 0);
        }
        _writer.Family(Weight, "A downstream's configured weight; 0 while it is drained.", "gauge");
        foreach (var (of, _, weight) in _health)
        {
            Sample(Weight, of).Value(weight);
        }
    }

    private ExpositionWriter Sample(string name, Row of) =>
        _writer.Sample(name).Label("listener", of.Listener, first: true).Label("mode", of.Mode)
            .Label("downstream", of.Downstream.Name).Label("address", of.Downstream.Endpoint);

    private readonly record struct Row(string Listener, string Mode, Downstream Downstream);
}
