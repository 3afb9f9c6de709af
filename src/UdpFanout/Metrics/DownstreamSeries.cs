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

    private readonly List<(string Listener, string Mode, DownstreamStats Stats)> _sent = [];
    private readonly List<(string Listener, string Mode, DownstreamIcmpErrors Errors)> _icmpErrors = [];
    private readonly List<(string Listener, string Mode, Downstream Downstream, bool Up)> _health = [];
    private readonly ExpositionWriter _writer = new();

    /// <summary>Forgets the rows of the last scrape; the lists keep their room.</summary>
    public void BeginScrape()
    {
        _sent.Clear();
        _icmpErrors.Clear();
        _health.Clear();
    }

    public void AddSent(string listener, string mode, DownstreamStats stats) => _sent.Add((listener, mode, stats));

    public void AddIcmpErrors(string listener, string mode, DownstreamIcmpErrors errors) => _icmpErrors.Add((listener, mode, errors));

    public void AddHealth(string listener, string mode, Downstream downstream, bool up) => _health.Add((listener, mode, downstream, up));

    /// <summary>Writes the five families, each whole, with its HELP and TYPE even when it has no series.</summary>
    public void WriteTo(Stream destination)
    {
        _writer.Begin(destination);
        _writer.Family(PacketsForwarded, "Datagrams forwarded to one downstream.", "counter");
        foreach (var (listener, mode, stats) in _sent)
        {
            Labels(PacketsForwarded, listener, mode, stats.Downstream).Value(stats.Packets);
        }
        _writer.Family(BytesForwarded, "UDP payload bytes forwarded to one downstream.", "counter");
        foreach (var (listener, mode, stats) in _sent)
        {
            Labels(BytesForwarded, listener, mode, stats.Downstream).Value(stats.Bytes);
        }
        _writer.Family(IcmpErrors, "ICMP errors the network returned for datagrams sent to one downstream (already counted as forwarded: they had left), by ICMP type.", "counter");
        foreach (var (listener, mode, errors) in _icmpErrors)
        {
            Labels(IcmpErrors, listener, mode, errors.Downstream).Label("type", errors.Type.MetricLabel()).Value(errors.Count);
        }
        _writer.Family(Up, "1 while a downstream is in the rotation, 0 while health checks keep it out.", "gauge");
        foreach (var (listener, mode, downstream, up) in _health)
        {
            Labels(Up, listener, mode, downstream).Value(up ? 1 : 0);
        }
        _writer.Family(Weight, "A downstream's configured weight; 0 while it is drained.", "gauge");
        foreach (var (listener, mode, downstream, _) in _health)
        {
            Labels(Weight, listener, mode, downstream).Value(downstream.Weight);
        }
    }

    private ExpositionWriter Labels(string metric, string listener, string mode, Downstream downstream) =>
        _writer.Sample(metric).Label("listener", listener, first: true).Label("mode", mode).Label("downstream", downstream.Name).Label("address", downstream.Endpoint);
}
