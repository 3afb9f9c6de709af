using System.Net;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// The testbed of shared/TESTBED.md, built per test and torn down even when the test fails:
/// <code>
///  ns cli (P.1.2) --veth-- ns proxy (P.1.1 on "in"; P.(10+N).1 on "dN") --veth-- ns sN (P.(10+N).2), N = 1..count
/// </code>
/// P is the /16 a test suite owns (e.g. 10.201); every namespace and veth name carries a per-instance id, so
/// concurrent runs never collide. The proxy routes (ip_forward=1); the client routes P/16 via the proxy.
/// A dual-stack testbed (<c>ipv6</c> given, e.g. "fd90") has the same shape in IPv6 as well, one /64 per link
/// named by the same numbers: Q:1::2 for the client, Q:1::1 and Q:(10+N)::1 for the proxy, Q:(10+N)::2 for sN,
/// with Q::/16 routed via the proxy from the client, a default route via the proxy in each sN, and IPv6
/// forwarding on in the proxy. Its addresses, link-local ones included, skip duplicate address detection, so
/// they work at once.
/// </summary>
internal sealed class NetnsTestbed : IDisposable
{
    private static int _instances;
    private readonly List<NetworkNamespace> _namespaces = [];

    private NetnsTestbed(string prefix, string network, string? ipv6)
    {
        Id = $"{prefix}{Environment.ProcessId % 10000:x}{Interlocked.Increment(ref _instances):x}";
        Network = network;
        Ipv6Network = ipv6;
    }

    public string Id { get; }

    /// <summary>The first two octets, e.g. "10.201".</summary>
    public string Network { get; }

    /// <summary>The first group of the IPv6 /16, e.g. "fd90"; null for an IPv4-only testbed.</summary>
    public string? Ipv6Network { get; }

    public NetworkNamespace Client { get; private set; } = null!;

    public NetworkNamespace Proxy { get; private set; } = null!;

    public List<NetworkNamespace> Downstreams { get; } = [];

    /// <summary>The client's interface facing the proxy.</summary>
    public string ClientInterface => $"{Id}c";

    /// <summary>The proxy's interface facing the client, where the eBPF modes attach.</summary>
    public string ProxyIngress => $"{Id}in";

    public IPAddress ClientAddress => IPAddress.Parse($"{Network}.1.2");

    public IPAddress ProxyAddress => IPAddress.Parse($"{Network}.1.1");

    public IPAddress DownstreamAddress(int index) => IPAddress.Parse($"{Network}.{11 + index}.2");

    public IPAddress ClientAddress6 => Ipv6("1::2");

    public IPAddress ProxyAddress6 => Ipv6("1::1");

    public IPAddress DownstreamAddress6(int index) => Ipv6($"{11 + index}::2");

    /// <param name="ipv6">The first group of an IPv6 /16 the suite owns (e.g. "fd90") for a dual-stack testbed; null for IPv4 only.</param>
    public static NetnsTestbed Create(string prefix, string network, int downstreams, int mtu = 1500, int proxyRxQueues = 1, string? ipv6 = null)
    {
        var bed = new NetnsTestbed(prefix, network, ipv6);
        try
        {
            bed.Build(downstreams, mtu, proxyRxQueues);
            return bed;
        }
        catch
        {
            bed.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var ns in _namespaces)
        {
            ns.Dispose();
        }
    }

    private NetworkNamespace Namespace(string role)
    {
        var ns = new NetworkNamespace($"{Id}-{role}");
        _namespaces.Add(ns);
        if (Ipv6Network is not null)
        {
            // Before any veth moves in, which takes the namespace's defaults: the link-local addresses too would
            // otherwise stay tentative for a second, and the proxy's neighbour discovery with them.
            ns.Exec("sysctl -qw net.ipv6.conf.default.accept_dad=0");
        }
        return ns;
    }

    private void Build(int downstreams, int mtu, int proxyRxQueues)
    {
        Client = Namespace("cli");
        Proxy = Namespace("proxy");
        // Both ends need the queues: veth receives on as many queues as its peer transmits on.
        Shell.Run($"ip link add {Id}c numrxqueues {proxyRxQueues} numtxqueues {proxyRxQueues} type veth peer name {ProxyIngress} numrxqueues {proxyRxQueues} numtxqueues {proxyRxQueues}");
        Shell.Run($"ip link set {ClientInterface} netns {Client.Name}");
        Shell.Run($"ip link set {ProxyIngress} netns {Proxy.Name}");
        Client.Exec($"ip addr add {ClientAddress}/24 dev {ClientInterface}");
        Client.Exec($"ip link set {ClientInterface} mtu {mtu} up");
        Client.Exec($"ip route add {Network}.0.0/16 via {ProxyAddress}");
        Proxy.Exec($"ip addr add {ProxyAddress}/24 dev {ProxyIngress}");
        Proxy.Exec($"ip link set {ProxyIngress} mtu {mtu} up");
        Proxy.Exec("sysctl -qw net.ipv4.ip_forward=1");
        for (var i = 0; i < downstreams; i++)
        {
            var ns = Namespace($"s{i}");
            Downstreams.Add(ns);
            var inside = $"{Id}s{i}";
            var outside = $"{Id}d{i}";
            Shell.Run($"ip link add {inside} type veth peer name {outside}");
            Shell.Run($"ip link set {inside} netns {ns.Name}");
            Shell.Run($"ip link set {outside} netns {Proxy.Name}");
            ns.Exec($"ip addr add {DownstreamAddress(i)}/24 dev {inside}");
            ns.Exec($"ip link set {inside} mtu {mtu} up");
            ns.Exec($"ip route add default via {Network}.{11 + i}.1");
            Proxy.Exec($"ip addr add {Network}.{11 + i}.1/24 dev {outside}");
            Proxy.Exec($"ip link set {outside} mtu {mtu} up");
            if (Ipv6Network is not null)
            {
                ns.Exec($"ip -6 addr add {DownstreamAddress6(i)}/64 dev {inside} nodad");
                ns.Exec($"ip -6 route add default via {Ipv6($"{11 + i}::1")}");
                Proxy.Exec($"ip -6 addr add {Ipv6($"{11 + i}::1")}/64 dev {outside} nodad");
            }
        }
        if (Ipv6Network is not null)
        {
            Client.Exec($"ip -6 addr add {ClientAddress6}/64 dev {ClientInterface} nodad");
            Client.Exec($"ip -6 route add {Ipv6Network}::/16 via {ProxyAddress6}");
            Proxy.Exec($"ip -6 addr add {ProxyAddress6}/64 dev {ProxyIngress} nodad");
            Proxy.Exec("sysctl -qw net.ipv6.conf.all.forwarding=1");
        }
    }

    private IPAddress Ipv6(string rest) =>
        IPAddress.Parse($"{Ipv6Network ?? throw new InvalidOperationException("this testbed is IPv4 only: create it with an ipv6 prefix")}:{rest}");
}
