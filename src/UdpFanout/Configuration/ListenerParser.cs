using System.Text.RegularExpressions;
using UdpFanout.Model;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Configuration;

/// <summary>Reads one entry of <c>listeners:</c>; checks that need more than one field of it happen here too.</summary>
internal static partial class ListenerParser
{
    public static ListenerConfig? Parse(YamlSection s)
    {
        var errorsBefore = s.Errors.All.Count;
        var name = s.String("name", required: true);
        if (name is not null && !ListenerName().IsMatch(name))
        {
            s.Errors.Add(s.Get("name")!, s.PathOf("name"), $"'{name}' is not a valid listener name (1-64 of A-Z a-z 0-9 _ . -; it names the systemd instance)");
        }
        var bind = s.Endpoint("bind", required: true);
        var mode = s.Enum<ForwardingMode>("mode") ?? ForwardingMode.Userspace;
        var iface = s.String("interface");
        if (iface is not null && !InterfaceName().IsMatch(iface))
        {
            s.Errors.Add(s.Get("interface")!, s.PathOf("interface"), $"'{iface}' is not a valid interface name (1-15 characters, no '/', ':' or spaces)");
        }
        if (mode != ForwardingMode.Userspace && s.Get("interface") is null)
        {
            s.Errors.Add(s.Node, s.PathOf("interface"), $"mode {mode.YamlName()} needs the interface to attach to (e.g. interface: eth0)");
        }
        var balance = s.Enum<BalancePolicy>("balance");
        var downstreams = Downstreams(s, mode, balance ?? BalancePolicy.RoundRobin);
        if (mode == ForwardingMode.TcEbpf && downstreams.Count > Interop.Fanout.FANOUT_MAX_DOWNSTREAMS)
        {
            s.Errors.Add(s.Get("downstream")!, s.PathOf("downstream"), $"mode tc_ebpf forwards to at most {Interop.Fanout.FANOUT_MAX_DOWNSTREAMS} downstreams; {downstreams.Count} are listed");
        }
        // Both may be given: the static downstreams join the discovered ones (e.g. an archive receiver outside the cluster).
        var kubernetes = s.Section("kubernetes") is { } k ? KubernetesParser.Parse(k) : null;
        if (s.Get("kubernetes") is null && s.Get("downstream") is null or YamlSequenceNode { Children.Count: 0 })
        {
            s.Errors.Add(s.Node, s.PathOf("downstream"), "no downstream and no kubernetes discovery: give a downstream list or a kubernetes section");
        }
        var hashKey = s.Enum<HashKey>("hash_key");
        if (hashKey is not null && balance != BalancePolicy.SourceHash)
        {
            s.Errors.Add(s.Get("hash_key")!, s.PathOf("hash_key"), "only applies to balance: source_hash");
        }
        var workers = s.Int("workers", 1, 256);
        var cpus = Cpus(s);
        var batch = s.Int("batch_size", 1, 1024);
        var recvBuffer = s.Int("recv_buffer_bytes", 4096, int.MaxValue);
        var sendBuffer = s.Int("send_buffer_bytes", 4096, int.MaxValue);
        // An IPv6 datagram carries 20 bytes more (no options in its fixed header); one larger than a downstream's
        // family can carry fails its send, counted as send_error.
        var maxPacket = s.Int("max_packet_size", 1, ListenerConfig.MaxUdpPayloadOf(bind?.AddressFamily ?? System.Net.Sockets.AddressFamily.InterNetwork));
        var xdpMode = s.Enum<XdpAttachMode>("xdp_mode");
        var queues = s.Int("queues", 1, 1024);
        var xdpLayer = s.Enum<XdpLayer>("xdp");
        if (mode != ForwardingMode.TcEbpf && s.Get("xdp") is { } xdpNode)
        {
            s.Errors.Add(xdpNode, s.PathOf("xdp"), $"only applies to mode tc_ebpf, not {mode.YamlName()} (af_xdp attaches at XDP anyway: see xdp_mode)");
        }
        var metricsBind = s.Endpoint("metrics_bind");
        var preserveSource = s.Bool("preserve_source");
        if (mode == ForwardingMode.TcEbpf && preserveSource == false)
        {
            // Refused rather than ignored: a file that says false must not look as if receivers saw the proxy.
            s.Errors.Add(s.Get("preserve_source")!, s.PathOf("preserve_source"),
                "mode tc_ebpf always keeps the client's source address (the tc program and its fallback socket alike); remove preserve_source, or use mode userspace or af_xdp to send from the proxy's address");
        }
        foreach (var afXdpOnly in new[] { "xdp_mode", "queues" })
        {
            if (mode != ForwardingMode.AfXdp && s.Get(afXdpOnly) is { } node)
            {
                s.Errors.Add(node, s.PathOf(afXdpOnly), $"only applies to mode af_xdp, not {mode.YamlName()}");
            }
        }
        s.ReportUnknownKeys();
        if (s.Errors.All.Count != errorsBefore || name is null || bind is null)
        {
            return null;
        }
        var defaults = new ListenerConfig { Name = name, Bind = bind };
        return defaults with
        {
            Mode = mode,
            Interface = iface,
            Downstreams = new(downstreams),
            Kubernetes = kubernetes,
            Balance = balance ?? defaults.Balance,
            HashKey = hashKey ?? defaults.HashKey,
            Workers = workers ?? defaults.Workers,
            Cpus = cpus,
            BatchSize = batch ?? defaults.BatchSize,
            RecvBufferBytes = recvBuffer ?? defaults.RecvBufferBytes,
            SendBufferBytes = sendBuffer ?? defaults.SendBufferBytes,
            MaxPacketSize = maxPacket ?? defaults.MaxPacketSize,
            XdpMode = xdpMode ?? defaults.XdpMode,
            Xdp = xdpLayer ?? defaults.Xdp,
            Queues = queues,
            MetricsBind = metricsBind,
            PreserveSource = preserveSource ?? defaults.PreserveSource,
        };
    }

    private static List<DownstreamConfig> Downstreams(YamlSection listener, ForwardingMode mode, BalancePolicy balance)
    {
        var result = new List<DownstreamConfig>();
        var firstByName = new Dictionary<string, YamlSection>(StringComparer.Ordinal);
        foreach (var d in listener.Sections("downstream"))
        {
            var name = d.String("name", required: true);
            var address = d.Endpoint("address", required: true);
            var weight = d.Int("weight", 0, DownstreamConfig.MaxWeight) ?? DownstreamConfig.DefaultWeight;
            d.ReportUnknownKeys();
            if (name is not null && firstByName.TryGetValue(name, out var first))
            {
                d.Errors.Add(d.Get("name")!, d.PathOf("name"), $"duplicate downstream name '{name}' (first at line {first.Node.Start.Line})");
                continue;
            }
            if (name is not null)
            {
                firstByName[name] = d;
            }
            if (name is not null && address is not null)
            {
                result.Add(new DownstreamConfig(name, address, weight));
            }
        }
        return result;
    }

    private static ValueList<int> Cpus(YamlSection listener)
    {
        if (listener.List("cpus") is not { } list)
        {
            return ValueList<int>.Empty;
        }
        var cpus = new List<int>();
        for (var i = 0; i < list.Children.Count; i++)
        {
            var item = list.Children[i];
            var path = $"{listener.PathOf("cpus")}[{i}]";
            if (item is not YamlScalarNode { Value: { } text } || !int.TryParse(text, out var cpu) || cpu is < 0 or > 1023)
            {
                listener.Errors.Add(item, path, "expected a CPU number (0..1023)");
            }
            else if (cpus.Contains(cpu))
            {
                listener.Errors.Add(item, path, $"CPU {cpu} is listed twice");
            }
            else
            {
                cpus.Add(cpu);
            }
        }
        return new(cpus);
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex ListenerName();

    [GeneratedRegex(@"^[^/:\s]{1,15}$")]
    private static partial Regex InterfaceName();
}
