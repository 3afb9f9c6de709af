using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Many distinct senders in a testbed's client namespace: <c>addresses</c> extra addresses on its interface
/// (P.1.100 upwards, or Q:1::100 upwards for IPv6 on a dual-stack testbed), each with sockets on fixed ports
/// from 20000, so a test knows every source in advance and the same sources come back in every run.
/// </summary>
internal sealed class ClientSources : IDisposable
{
    private const int FirstPort = 20000;
    private readonly NetnsTestbed _bed;
    private readonly int _addresses;
    private readonly bool _ipv6;
    private readonly Dictionary<IPEndPoint, Socket> _open = [];

    public ClientSources(NetnsTestbed bed, int addresses, bool ipv6 = false)
    {
        _bed = bed;
        _addresses = addresses;
        _ipv6 = ipv6;
        bed.Client.Exec(ipv6
            ? $"sh -c '{string.Concat(Enumerable.Range(100, addresses).Select(i => $"ip -6 addr add {Address(i)}/64 dev {bed.ClientInterface} nodad; "))}'"
            : $"sh -c 'for i in $(seq 100 {99 + addresses}); do ip addr add {bed.Network}.1.$i/24 dev {bed.ClientInterface}; done'");
    }

    /// <summary>The first <paramref name="count"/> sources: every address with port 20000, then with 20001, and so on.</summary>
    public IPEndPoint[] Take(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new IPEndPoint(Address(100 + i % _addresses), FirstPort + i / _addresses))];

    /// <summary>
    /// P.1.host, or in Q:1::/64 an interface identifier drawn from a generator seeded with the host number, as
    /// SLAAC's random identifiers look. Not Q:1::100, Q:1::101, ...: under the source hash's IPv6 key, whose
    /// b ^ port lets the low bits of the address and the port cancel out, 50 consecutive identifiers with 200
    /// consecutive ports are only 256 distinct keys, and their spread would measure that weakness of the agreed
    /// definition (SourceHash) rather than the data path.
    /// </summary>
    private IPAddress Address(int host)
    {
        if (!_ipv6)
        {
            return IPAddress.Parse($"{_bed.Network}.1.{host}");
        }
        var random = new Random(host);
        return IPAddress.Parse($"{_bed.Ipv6Network}:1:0:0:{random.Next(0x10000):x}:{random.Next(0x10000):x}:{random.Next(0x10000):x}:{random.Next(0x10000):x}");
    }

    /// <summary>Sends one numbered datagram from each of <paramref name="sources"/>, in order, opening their sockets first.</summary>
    public void Send(IReadOnlyList<IPEndPoint> sources, Func<int, long> sequenceOf, IPEndPoint target, int length = 64)
    {
        var missing = sources.Where(s => !_open.ContainsKey(s)).Distinct().ToArray();
        if (missing.Length > 0)
        {
            _bed.Client.Invoke(() =>
            {
                foreach (var source in missing)
                {
                    var socket = new Socket(source.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                    socket.Bind(source);
                    _open[source] = socket;
                }
                return 0;
            });
        }
        var payload = new byte[length];
        for (var i = 0; i < sources.Count; i++)
        {
            NumberedPayload.Write(payload, sequenceOf(i));
            _open[sources[i]].SendTo(payload, target);
        }
    }

    /// <summary>Closes every socket (a test with more sources than descriptors sends in chunks and closes between them).</summary>
    public void Close()
    {
        foreach (var socket in _open.Values)
        {
            socket.Dispose();
        }
        _open.Clear();
    }

    public void Dispose() => Close();
}
