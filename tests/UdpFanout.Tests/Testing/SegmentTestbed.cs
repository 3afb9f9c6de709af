using System.Net;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// A testbed where the downstreams share the proxy's L2 segment, built per test and torn down even when it fails:
/// <code>
///  ns cli (P.1.2) --veth--+
///  ns proxy (P.1.1) -veth-+- bridge in ns br
///  ns sN (P.1.(11+N)) ----+            N = 0..count-1
///  ns proxy (P.2.1) --veth-- ns far (P.2.2): a downstream behind another interface of the proxy
/// </code>
/// P is the /16 a test suite owns; names carry a per-instance id, as in <see cref="NetnsTestbed"/>.
/// </summary>
internal sealed class SegmentTestbed : IDisposable
{
    private static int _instances;
    private readonly List<NetworkNamespace> _namespaces = [];

    private SegmentTestbed(string prefix, string network)
    {
        Id = $"{prefix}{Environment.ProcessId % 10000:x}{Interlocked.Increment(ref _instances):x}";
        Network = network;
    }

    public string Id { get; }

    public string Network { get; }

    public NetworkNamespace Client { get; private set; } = null!;

    public NetworkNamespace Proxy { get; private set; } = null!;

    public NetworkNamespace Bridge { get; private set; } = null!;

    public NetworkNamespace Far { get; private set; } = null!;

    public List<NetworkNamespace> Downstreams { get; } = [];

    /// <summary>The proxy's interface on the segment, where the XDP program attaches.</summary>
    public string ProxyIngress => $"{Id}in";

    public IPAddress ClientAddress => IPAddress.Parse($"{Network}.1.2");

    public IPAddress ProxyAddress => IPAddress.Parse($"{Network}.1.1");

    public IPAddress DownstreamAddress(int index) => IPAddress.Parse($"{Network}.1.{11 + index}");

    public string DownstreamInterface(int index) => $"{Id}s{index}";

    public IPAddress FarAddress => IPAddress.Parse($"{Network}.2.2");

    /// <summary>The proxy's address on the far network: the source the far downstream sees.</summary>
    public IPAddress ProxyFarAddress => IPAddress.Parse($"{Network}.2.1");

    public static SegmentTestbed Create(string prefix, string network, int downstreams)
    {
        var bed = new SegmentTestbed(prefix, network);
        try
        {
            bed.Build(downstreams);
            return bed;
        }
        catch
        {
            bed.Dispose();
            throw;
        }
    }

    /// <summary>The MAC address of downstream <paramref name="index"/>'s interface.</summary>
    public string DownstreamMac(int index) => Downstreams[index].Exec($"cat /sys/class/net/{DownstreamInterface(index)}/address").Trim();

    /// <summary>The proxy kernel's neighbour entry for downstream <paramref name="index"/>, as ip neigh prints it (empty if none).</summary>
    public string ProxyNeighbour(int index) => Proxy.Exec($"ip neigh show {DownstreamAddress(index)} dev {ProxyIngress}").Trim();

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

    private void Build(int downstreams)
    {
        Bridge = Namespace("br");
        Client = Namespace("cli");
        Proxy = Namespace("proxy");
        Far = Namespace("far");
        Bridge.Exec($"ip link add {Id}br type bridge");
        Bridge.Exec($"ip link set {Id}br up");
        Attach(Client, $"{Id}c", $"{Id}bc", ClientAddress);
        // A veth hands its peer UDP checksums still to be completed (checksum offload); a frame from a NIC carries a
        // whole one, which is what the TX ring's incremental update keeps valid. The client sends as a host would.
        Client.Exec($"ethtool -K {Id}c tx off");
        Attach(Proxy, ProxyIngress, $"{Id}bp", ProxyAddress);
        for (var i = 0; i < downstreams; i++)
        {
            var ns = Namespace($"s{i}");
            Downstreams.Add(ns);
            Attach(ns, DownstreamInterface(i), $"{Id}b{i}", DownstreamAddress(i));
        }
        Shell.Run($"ip link add {Id}f type veth peer name {Id}fs");
        Shell.Run($"ip link set {Id}f netns {Proxy.Name}");
        Shell.Run($"ip link set {Id}fs netns {Far.Name}");
        Proxy.Exec($"ip addr add {ProxyFarAddress}/24 dev {Id}f");
        Proxy.Exec($"ip link set {Id}f up");
        Far.Exec($"ip addr add {FarAddress}/24 dev {Id}fs");
        Far.Exec($"ip link set {Id}fs up");
        Far.Exec($"ip route add default via {ProxyFarAddress}");
    }

    /// <summary>A veth from <paramref name="ns"/> into the bridge, with <paramref name="address"/>/24 on the inside end.</summary>
    private void Attach(NetworkNamespace ns, string inside, string port, IPAddress address)
    {
        Shell.Run($"ip link add {inside} type veth peer name {port}");
        Shell.Run($"ip link set {inside} netns {ns.Name}");
        Shell.Run($"ip link set {port} netns {Bridge.Name}");
        Bridge.Exec($"ip link set {port} master {Id}br");
        Bridge.Exec($"ip link set {port} up");
        ns.Exec($"ip addr add {address}/24 dev {inside}");
        ns.Exec($"ip link set {inside} up");
    }
}
