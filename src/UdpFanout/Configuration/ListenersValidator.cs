using System.Net;
using UdpFanout.Model;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Configuration;

/// <summary>
/// The checks that look at the listeners together, after each one parsed: binds that overlap, tc_ebpf filters that
/// would replace each other, an af_xdp interface tuned to an MTU its UMEM cannot hold, and datagrams that would come
/// back into a listener (its own downstream, a ring of listeners, a health probe).
/// </summary>
internal sealed class ListenersValidator(HostAddresses host)
{
    public void Validate(
        IReadOnlyList<(ListenerConfig Config, YamlSection At)> listeners, HealthConfig health, IReadOnlyList<(InterfaceTuningConfig Config, YamlSection At)> tuning, YamlSection root)
    {
        Overlaps(listeners);
        TcFilterHandles(listeners);
        AfXdpMtu(listeners, tuning);
        foreach (var (listener, at) in listeners)
        {
            var rules = new DestinationRules(listener, host);
            for (var i = 0; i < listener.Downstreams.Count; i++)
            {
                var address = listener.Downstreams[i].Address;
                var message = rules.Refusal(address) ?? Ring(listener, address, listeners);
                if (message is not null)
                {
                    at.Errors.Add(AddressNode(at, i), $"{at.PathOf("downstream")}[{i}].address", message);
                }
            }
        }
        ProbePort(listeners, health, root);
    }

    /// <summary>
    /// Two sockets on one port split its datagrams, whatever the modes (the eBPF modes' fallback sockets bind
    /// the port too), so binds overlap across modes as well: the same address, or 0.0.0.0 and any address.
    /// </summary>
    private static void Overlaps(IReadOnlyList<(ListenerConfig Config, YamlSection At)> listeners)
    {
        for (var i = 0; i < listeners.Count; i++)
        {
            var (listener, at) = listeners[i];
            var earlier = listeners.Take(i).FirstOrDefault(l => Binds.Overlap(l.Config.Bind, listener.Bind));
            if (earlier.Config is { } first)
            {
                at.Errors.Add(at.Node.Children[new YamlScalarNode("bind")], at.PathOf("bind"),
                    $"{listener.Bind} overlaps the bind {first.Bind} of listener '{first.Name}' (mode {first.Mode.YamlName()}, line {earlier.At.Node.Start.Line}): "
                    + "both would receive on that port and split its datagrams; give one of them another port");
            }
        }
    }

    /// <summary>
    /// Each tc_ebpf listener has a filter on its interface whose handle follows from its bind; a second listener
    /// with the same handle would replace the first one's filter, so the start refuses it (<see cref="TcFilterHandle"/>),
    /// and so does <c>check</c>, by the same rule. Binds that overlap are reported as such, not twice.
    /// </summary>
    private static void TcFilterHandles(IReadOnlyList<(ListenerConfig Config, YamlSection At)> listeners)
    {
        for (var i = 0; i < listeners.Count; i++)
        {
            var (listener, at) = listeners[i];
            if (listener.Mode != ForwardingMode.TcEbpf || listener.Interface is not { } iface)
            {
                continue;
            }
            foreach (var (earlier, earlierAt) in listeners.Take(i))
            {
                if (earlier.Mode == ForwardingMode.TcEbpf && earlier.Interface == iface && !Binds.Overlap(earlier.Bind, listener.Bind)
                    && TcFilterHandle.Collision(listener.Bind, earlier.Bind) is { } collision)
                {
                    at.Errors.Add(at.Node.Children[new YamlScalarNode("bind")], at.PathOf("bind"),
                        $"the tc filter of this listener on {iface} would replace the one of listener '{earlier.Name}' (line {earlierAt.Node.Start.Line}): {collision}");
                    break;
                }
            }
        }
    }

    /// <summary>
    /// An af_xdp listener cannot start on an interface whose MTU its UMEM frames cannot hold; when the same file's
    /// <c>tuning:</c> sets that MTU, <c>check</c> says so before the boot that applies it.
    /// </summary>
    private static void AfXdpMtu(IReadOnlyList<(ListenerConfig Config, YamlSection At)> listeners, IReadOnlyList<(InterfaceTuningConfig Config, YamlSection At)> tuning)
    {
        foreach (var (listener, at) in listeners)
        {
            if (listener.Mode != ForwardingMode.AfXdp || listener.Interface is not { } iface
                || tuning.FirstOrDefault(t => t.Config.Interface == iface && t.Config.Mtu > UmemFrameSize.MaxMtu) is not ({ Mtu: { } mtu }, { } tuned))
            {
                continue;
            }
            at.Errors.Add(at.Node.Children[new YamlScalarNode("interface")], at.PathOf("interface"),
                $"tuning: sets MTU {mtu} on {iface} (line {tuned.Get("mtu")!.Start.Line}), but {UmemFrameSize.MaxMtuReason}: "
                + $"lower the MTU to {UmemFrameSize.MaxMtu} or less, or use mode tc_ebpf or userspace");
        }
    }

    /// <summary>A downstream that is another listener, whose downstreams lead back to this one: a loop over several hops.</summary>
    private string? Ring(ListenerConfig from, IPEndPoint address, IReadOnlyList<(ListenerConfig Config, YamlSection At)> listeners)
    {
        foreach (var (next, _) in listeners)
        {
            if (next != from && DestinationRules.Reaches(address, next.Bind, host) && LeadsTo(next, from, listeners.Select(l => l.Config).ToArray()))
            {
                return $"{address} reaches listener '{next.Name}' (bind {next.Bind}), whose downstreams lead back to this listener: datagrams would circle between them (a forwarding loop)";
            }
        }
        return null;
    }

    private bool LeadsTo(ListenerConfig start, ListenerConfig target, IReadOnlyList<ListenerConfig> all)
    {
        var seen = new HashSet<ListenerConfig> { start };
        var pending = new Stack<ListenerConfig>([start]);
        while (pending.TryPop(out var listener))
        {
            foreach (var reached in all.Where(l => listener.Downstreams.Any(d => DestinationRules.Reaches(d.Address, l.Bind, host))))
            {
                if (reached == target)
                {
                    return true;
                }
                if (seen.Add(reached))
                {
                    pending.Push(reached);
                }
            }
        }
        return false;
    }

    /// <summary>
    /// A udp_echo probe to a listener's port is not echoed but forwarded as traffic, and in userspace mode a
    /// downstream's answer to it comes back into that listener.
    /// </summary>
    private void ProbePort(IReadOnlyList<(ListenerConfig Config, YamlSection At)> listeners, HealthConfig health, YamlSection root)
    {
        if (!health.Enabled || health.ProbePort is not { } port)
        {
            return;
        }
        foreach (var (listener, _) in listeners)
        {
            foreach (var downstream in listener.Downstreams)
            {
                var target = new IPEndPoint(downstream.Address.Address, port);
                if (listeners.FirstOrDefault(l => DestinationRules.Reaches(target, l.Config.Bind, host)).Config is { } reached)
                {
                    var node = ((YamlMappingNode)root.Node.Children[new YamlScalarNode("health")]).Children[new YamlScalarNode("probe_port")];
                    root.Errors.Add(node, "health.probe_port",
                        $"probes of downstream '{downstream.Name}' of listener '{listener.Name}' go to {target}, which reaches listener '{reached.Name}' (bind {reached.Bind}): they would be forwarded as traffic, not echoed; give the port the downstreams echo on");
                    return;
                }
            }
        }
    }

    private static YamlNode AddressNode(YamlSection listener, int index)
    {
        var item = (YamlMappingNode)((YamlSequenceNode)listener.Node.Children[new YamlScalarNode("downstream")]).Children[index];
        return item.Children[new YamlScalarNode("address")];
    }
}
