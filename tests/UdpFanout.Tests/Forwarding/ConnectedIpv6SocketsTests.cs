using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Tests.Testing;
using static Interop.Libc;

namespace UdpFanout.Tests.Forwarding;

/// <summary>
/// A worker's IPv6 datagrams leave from a socket connected to their downstream (no route lookup per datagram), with
/// real packets on a dual-stack testbed: each arrives once and byte-exact, from its downstream's own socket, while an
/// IPv4 downstream of the same set is served as before.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class ConnectedIpv6SocketsTests : IDisposable
{
    private const int Datagrams = 600;
    private const int PayloadBytes = 100;

    private readonly NetnsTestbed _bed = NetnsTestbed.Create("kb", "10.173", downstreams: 3, ipv6: "fd73");
    private readonly List<CountingReceiver> _receivers = [];

    public ConnectedIpv6SocketsTests()
    {
        // Two IPv6 downstreams and an IPv4 one.
        for (var i = 0; i < 3; i++)
        {
            var address = i < 2 ? _bed.DownstreamAddress6(i) : _bed.DownstreamAddress(i);
            var port = 6000 + i;
            _receivers.Add(_bed.Downstreams[i].Invoke(() => new CountingReceiver(address, port)));
        }
    }

    public void Dispose()
    {
        _receivers.ForEach(r => r.Dispose());
        _bed.Dispose();
    }

    /// <summary>
    /// Each IPv6 downstream gets its datagrams from a socket of its own, connected to it: the source the kernel picks
    /// for a listener on the wildcard, the listener's address for one bound to an IPv6 address.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Send_Ipv6Downstreams_EachDatagramOnceFromItsDownstreamsConnectedSocket(bool boundToOneAddress)
    {
        var set = new DownstreamSet(_receivers.Select((r, i) => new Downstream($"s{i}", r.Endpoint)).ToArray());
        var listen = boundToOneAddress ? _bed.ProxyAddress6 : IPAddress.Any;
        var (counters, ownPort, connectedPorts) = _bed.Proxy.Invoke(() =>
        {
            using var dataPlane = new ListenerDataPlane(new ListenerConfig { Name = "kb", Bind = new IPEndPoint(listen, 5514) }, NullLogger.Instance);
            dataPlane.Update(set);
            using var socket = SendSocket.Open(listen, 1 << 20, NullLogger.Instance, "kb");
            Assert.Equal(!boundToOneAddress, socket.Ipv6Wildcard);
            using var batch = new SendBatch(64, socket.Ipv6Wildcard);
            var workerCounters = new WorkerCounters();
            SendNumbered(batch, socket, dataPlane.Active, workerCounters);
            var fds = socket.Connected!.Current;
            return (workerCounters, LocalPort(socket.Fd6), fds.Select(fd => fd < 0 ? -1 : LocalPort(fd)).ToArray());
        });

        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= Datagrams, "every datagram at the receivers");
        Assert.Equal((long)Datagrams, counters.Forwarded);
        Assert.Equal(0L, counters.Dropped.Sum());
        Assert.Equal(Enumerable.Range(0, Datagrams).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        // The IPv4 downstream has no connected socket; each IPv6 one has its own, and only it sent to it.
        Assert.Equal(-1, connectedPorts[2]);
        for (var i = 0; i < 2; i++)
        {
            var source = Assert.Single(_receivers[i].Sources);
            // Bound: the listener's address, not the one of the interface towards the downstream the kernel would pick.
            Assert.Equal(boundToOneAddress ? listen : IPAddress.Parse($"fd73:{11 + i}::1"), source.Address);
            Assert.Equal(connectedPorts[i], source.Port);
            Assert.NotEqual(ownPort, source.Port);
        }
    }

    /// <summary>A connected socket's ICMPv6 errors are counted against its downstream too, and fail no datagram.</summary>
    [Fact]
    public async Task Send_ToAClosedIpv6Port_EachPortUnreachableCountedAgainstItsDownstreamNothingLost()
    {
        // Every datagram to the closed port draws its error: the downstream's ICMP rate limits off, the global one too
        // (its burst of 50 is far below a batch sent at once).
        _bed.Downstreams[1].Exec("sysctl -qw net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000");
        var closed = new Downstream("closed", new IPEndPoint(_bed.DownstreamAddress6(1), 6101));
        var set = new DownstreamSet([new Downstream("s0", _receivers[0].Endpoint), closed, new Downstream("s2", _receivers[2].Endpoint)]);
        var (counters, active) = _bed.Proxy.Invoke(() =>
        {
            using var dataPlane = new ListenerDataPlane(new ListenerConfig { Name = "kb", Bind = new IPEndPoint(IPAddress.Any, 5514) }, NullLogger.Instance);
            dataPlane.Update(set);
            using var socket = SendSocket.Open(IPAddress.Any, 1 << 20, NullLogger.Instance, "kb");
            using var batch = new SendBatch(64, socket.Ipv6Wildcard);
            var workerCounters = new WorkerCounters();
            SendNumbered(batch, socket, dataPlane.Active, workerCounters);
            Assert.True(socket.Connected!.Current[1] >= 0);
            // What came back after the last batch, as a waiting worker reads it.
            var deadline = Environment.TickCount64 + 5000;
            while (dataPlane.Active.Counters[1].IcmpErrorsOf(IcmpError.PortUnreachable) < Datagrams / 3 && Environment.TickCount64 < deadline)
            {
                socket.ReadErrors(dataPlane.Active);
                Thread.Sleep(10);
            }
            return (workerCounters, dataPlane.Active);
        });

        await Eventually.TrueAsync(() => _receivers[0].Count + _receivers[2].Count >= 2 * Datagrams / 3, "the live downstreams' datagrams");
        Assert.Equal(Datagrams / 3, active.Counters[1].IcmpErrorsOf(IcmpError.PortUnreachable));
        Assert.Equal((long)Datagrams / 3, active.Counters[1].Packets);
        Assert.Equal(0, active.Counters[0].IcmpErrorsOf(IcmpError.PortUnreachable));
        Assert.Equal((long)Datagrams, counters.Forwarded);
        Assert.Equal(0L, counters.Dropped.Sum());
    }

    [Fact]
    public void For_SourcesLearntAgain_ConnectsAfreshAndOnlyThen()
    {
        var set = new DownstreamSet(_receivers.Select((r, i) => new Downstream($"s{i}", r.Endpoint)).ToArray());
        _bed.Proxy.Invoke(() =>
        {
            using var dataPlane = new ListenerDataPlane(new ListenerConfig { Name = "kb", Bind = new IPEndPoint(IPAddress.Any, 5514) }, NullLogger.Instance);
            dataPlane.Update(set);
            using var sockets = new ConnectedIpv6Sockets(1 << 20);

            var first = sockets.For(dataPlane.Active);
            Assert.Same(first, sockets.For(dataPlane.Active));
            dataPlane.Active.Sources.Relearn();
            var second = sockets.For(dataPlane.Active);

            Assert.NotSame(first, second);
            Assert.Same(second, sockets.Current);
            Assert.All(second.Take(2), fd => Assert.True(LocalPort(fd) > 0));
        });
    }

    [Fact]
    public void For_MoreIpv6DownstreamsThanTheLimit_ConnectsNone()
    {
        var many = Enumerable.Range(0, ConnectedIpv6Sockets.MaxDownstreams + 1)
            .Select(i => new Downstream($"s{i}", new IPEndPoint(_bed.DownstreamAddress6(0), 7000 + i))).ToArray();
        _bed.Proxy.Invoke(() =>
        {
            using var dataPlane = new ListenerDataPlane(new ListenerConfig { Name = "kb", Bind = new IPEndPoint(IPAddress.Any, 5514) }, NullLogger.Instance);
            dataPlane.Update(new DownstreamSet(many));
            using var sockets = new ConnectedIpv6Sockets(1 << 20);

            Assert.Empty(sockets.For(dataPlane.Active));
        });
    }

    /// <summary>Datagrams 0 to 599 in batches of 60, round robin over the three downstreams.</summary>
    private static unsafe void SendNumbered(SendBatch batch, SendSocket socket, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        var payloads = new byte[60 * PayloadBytes];
        for (var sequence = 0; sequence < Datagrams;)
        {
            fixed (byte* start = payloads)
            {
                for (var i = 0; i < 60; i++, sequence++)
                {
                    NumberedPayload.Write(payloads.AsSpan(i * PayloadBytes, PayloadBytes), sequence);
                    batch.Add(start + i * PayloadBytes, PayloadBytes, sequence % 3, downstreams);
                }
                batch.Send(socket, downstreams, counters);
            }
        }
    }

    private static unsafe int LocalPort(int fd)
    {
        var address = new sockaddr_in6();
        var length = (uint)sizeof(sockaddr_in6);
        Assert.Equal(0, getsockname(fd, &address, &length));
        return (ushort)IPAddress.NetworkToHostOrder((short)address.sin6_port);
    }
}
