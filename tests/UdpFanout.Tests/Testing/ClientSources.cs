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

    /// <summary>P.1.host, or Q:1::host: consecutive addresses, the hardest case for a hash's spread.</summary>
    private IPAddress Address(int host) =>
        IPAddress.Parse(_ipv6 ? $"{_bed.Ipv6Network}:1::{host:x}" : $"{_bed.Network}.1.{host}");

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
