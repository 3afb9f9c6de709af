using System.Net;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// The testbed of shared/TESTBED.md, built per test and torn down even when the test fails:
/// <code>
///  ns cli (P.1.2) --veth-- ns proxy (P.1.1 on "in"; P.(10+N).1 on "dN") --veth-- ns sN (P.(10+N).2), N = 1..count
/// </code>
/// P is the /16 a test suite owns (e.g. 10.201); every namespace and veth name carries a per-instance id, so
/// concurrent runs never collide. The proxy routes (ip_forward=1); the client routes P/16 via the proxy.
/// </summary>
internal sealed class NetnsTestbed : IDisposable
{
    private static int _instances;
    private readonly List<NetworkNamespace> _namespaces = [];

    private NetnsTestbed(string prefix, string network)
    {
        Id = $"{prefix}{Environment.ProcessId % 10000:x}{Interlocked.Increment(ref _instances):x}";
        Network = network;
    }

    public string Id { get; }

    /// <summary>The first two octets, e.g. "10.201".</summary>
    public string Network { get; }

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

    public static NetnsTestbed Create(string prefix, string network, int downstreams, int mtu = 1500, int proxyRxQueues = 1)
    {
        var bed = new NetnsTestbed(prefix, network);
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
        }
    }
}
