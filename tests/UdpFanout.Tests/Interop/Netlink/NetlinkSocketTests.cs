using System.Net;
using System.Runtime.InteropServices;
using UdpFanout.Tests.Testing;
using static Interop.Libc;
using static Interop.Netlink;

namespace UdpFanout.Tests.Interop.Netlink;

/// <summary>The one netlink reader against the real kernel: dumps, refusals, notifications, and datagrams it must grow for or refuse.</summary>
[Collection(KernelCollection.Name)]
public sealed unsafe partial class NetlinkSocketTests : IDisposable
{
    // The main routing table (RT_TABLE_MAIN): the local table lists the interface's own addresses too.
    private const byte MainTable = 254;

    private readonly NetworkNamespace _ns = new($"nlsock{Environment.ProcessId % 10000:x}");

    public NetlinkSocketTests()
    {
        _ns.Exec("ip link add nla type veth peer name nlb");
        _ns.Exec("ip addr add 10.181.0.1/24 dev nla");
        _ns.Exec("ip link set nla up");
        _ns.Exec("ip link set nlb up");
    }

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void Request_RouteDumpOfManyDatagramsEachLargerThanTheBuffer_ReadsEveryRoute()
    {
        var batch = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(batch, Enumerable.Range(0, 2000).Select(i => $"route add 10.181.{1 + i / 250}.{1 + i % 250}/32 dev nla"));
            _ns.Exec($"ip -batch {batch}");
        }
        finally
        {
            File.Delete(batch);
        }
        var nla = int.Parse(_ns.Exec("cat /sys/class/net/nla/ifindex").Trim());
        var listed = _ns.Exec("ip -4 route show dev nla").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

        var counted = _ns.Invoke(() =>
        {
            using var socket = NetlinkSocket.Open(NETLINK_ROUTE, bufferSize: 256);
            var routes = 0;
            socket.Request(new NetlinkRequest(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP).Put(new rtmsg { rtm_family = (byte)AF_INET }), "list the routes", (type, body) =>
            {
                if (type == RTM_NEWROUTE && NetlinkAttributes.TrySplit<rtmsg>(body, out var route, out var attributes)
                    && route.rtm_table == MainTable && NetlinkAttributes.Read<int>(attributes, RTA_OIF) == nla)
                {
                    routes++;
                }
            });
            return routes;
        });

        // 2000 host routes and the /24 of the interface's address.
        Assert.Equal((2001, 2001), (listed, counted));
    }

    [Fact]
    public void Request_RefusedByTheKernel_ThrowsWithItsErrno()
    {
        var error = Assert.IsType<NetlinkException>(Assert.Throws<InvalidOperationException>(() => _ns.Invoke(() =>
        {
            using var socket = NetlinkSocket.Open(NETLINK_ROUTE);
            socket.Request(Lookup("192.0.2.1"), "look up a route", (_, _) => { });
        })).InnerException);

        Assert.Equal((ENETUNREACH, true), (error.Errno, error.Refused));
        Assert.Equal("the kernel refused to look up a route: Network is unreachable (errno 101)", error.Message);
    }

    [Fact]
    public void Request_AfterADumpWhoseHandlerFailedHalfWay_ReadsItsOwnAnswer()
    {
        _ns.Exec("ip route add 10.181.7.0/24 dev nla");
        var nla = int.Parse(_ns.Exec("cat /sys/class/net/nla/ifindex").Trim());

        var (oif, dumped) = _ns.Invoke(() =>
        {
            using var socket = NetlinkSocket.Open(NETLINK_ROUTE);
            var dumped = 0;
            Assert.Throws<ArithmeticException>(() => socket.Request(new NetlinkRequest(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP).Put(new rtmsg { rtm_family = (byte)AF_INET }), "list the routes", (_, _) =>
            {
                dumped++;
                throw new ArithmeticException("the handler fails");
            }));
            int? oif = null;
            socket.Request(Lookup("10.181.7.9"), "look up a route", (type, body) =>
            {
                Assert.Equal(RTM_NEWROUTE, type);
                NetlinkAttributes.TrySplit<rtmsg>(body, out _, out var attributes);
                oif = NetlinkAttributes.Read<int>(attributes, RTA_OIF);
            });
            return (oif, dumped);
        });

        Assert.Equal((nla, 1), (oif, dumped));
    }

    [Fact]
    public void ReceiveNotifications_NeighbourAdded_HandsItsMessage()
    {
        var address = BitConverter.ToUInt32(IPAddress.Parse("10.181.0.7").GetAddressBytes());
        var seen = _ns.Invoke(() =>
        {
            using var socket = NetlinkSocket.Open(NETLINK_ROUTE, RTMGRP_NEIGH);
            _ns.Exec("ip neigh add 10.181.0.7 lladdr 02:00:5e:10:18:07 dev nla");
            var deadline = DateTime.UtcNow.AddSeconds(10);
            var seen = false;
            while (!seen && DateTime.UtcNow < deadline)
            {
                socket.ReceiveNotifications(100, (type, body) => seen |= type == RTM_NEWNEIGH
                    && NetlinkAttributes.TrySplit<ndmsg>(body, out _, out var attributes) && NetlinkAttributes.Read<uint>(attributes, NDA_DST) == address);
            }
            return seen;
        });

        Assert.True(seen, "an RTM_NEWNEIGH for 10.181.0.7");
    }

    [Fact]
    public void ReceiveNotifications_MoreThanTheSocketCouldTake_ThrowsENOBUFS()
    {
        var batch = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(batch, Enumerable.Range(0, 200).Select(i => $"neigh add 10.181.0.{10 + i} lladdr 02:00:5e:10:18:{i:x2} dev nla"));
            var error = Assert.IsType<NetlinkException>(Assert.Throws<InvalidOperationException>(() => _ns.Invoke(() =>
            {
                using var socket = NetlinkSocket.Open(NETLINK_ROUTE, RTMGRP_NEIGH);
                // The smallest receive buffer the kernel allows holds a few notifications, not 200.
                var size = 1;
                Assert.Equal(0, setsockopt(socket.Fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(int)));
                _ns.Exec($"ip -batch {batch}");
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (DateTime.UtcNow < deadline)
                {
                    socket.ReceiveNotifications(100, (_, _) => { });
                }
            })).InnerException);

            Assert.Equal((ENOBUFS, false), (error.Errno, error.Refused));
            Assert.Equal("the kernel dropped netlink messages this socket could not take in time (while asked to read notifications): No buffer space available (errno 105)", error.Message);
        }
        finally
        {
            File.Delete(batch);
        }
    }

    [Fact]
    public void ReceiveNotifications_DatagramLargerThanTheBuffer_ReadWhole()
    {
        var bodies = _ns.Invoke(() =>
        {
            using var socket = NetlinkSocket.Open(NETLINK_ROUTE, bufferSize: 256);
            SendTo(socket, Message(0x7777, 3000, 3000), Message(0x7778, 100, 100));
            var bodies = new List<(ushort, int)>();
            Assert.True(socket.ReceiveNotifications(5000, (type, body) => bodies.Add((type, body.Length))));
            return bodies;
        });

        Assert.Equal([(0x7777, 3000 - 16), (0x7778, 100 - 16)], bodies);
    }

    [Fact]
    public void ReceiveNotifications_MessageLongerThanItsDatagram_Throws()
    {
        var error = Assert.IsType<NetlinkException>(Assert.Throws<InvalidOperationException>(() => _ns.Invoke(() =>
        {
            using var socket = NetlinkSocket.Open(NETLINK_ROUTE);
            // The header claims 64 bytes; 32 arrive.
            SendTo(socket, Message(0x7777, 64, 32));
            socket.ReceiveNotifications(5000, (_, _) => { });
        })).InnerException);

        Assert.Equal((EPROTO, false), (error.Errno, error.Refused));
        Assert.Equal("a netlink message was cut short (while asked to read notifications): Protocol error (errno 71)", error.Message);
    }

    private static NetlinkRequest Lookup(string destination) =>
        new NetlinkRequest(RTM_GETROUTE, NLM_F_REQUEST)
            .Put(new rtmsg { rtm_family = (byte)AF_INET, rtm_dst_len = 32 })
            .Attribute(RTA_DST, BitConverter.ToUInt32(IPAddress.Parse(destination).GetAddressBytes()));

    /// <summary>A message of <paramref name="type"/> whose header says <paramref name="claimed"/> bytes, of which <paramref name="actual"/> are there.</summary>
    private static byte[] Message(ushort type, int claimed, int actual)
    {
        var message = new byte[actual];
        MemoryMarshal.Write(message, new nlmsghdr { nlmsg_len = (uint)claimed, nlmsg_type = type });
        return message;
    }

    /// <summary>Sends the messages as one datagram from another socket to <paramref name="target"/> (a root may unicast to a user socket).</summary>
    private static void SendTo(NetlinkSocket target, params byte[][] messages)
    {
        var address = new sockaddr_nl();
        var length = (uint)sizeof(sockaddr_nl);
        Assert.Equal(0, getsockname(target.Fd, &address, &length));
        var datagram = messages.SelectMany(m => m.Concat(new byte[NLMSG_ALIGN(m.Length) - m.Length])).ToArray();
        var sender = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        try
        {
            var to = new sockaddr_nl { nl_family = AF_NETLINK, nl_pid = address.nl_pid };
            fixed (byte* start = datagram)
            {
                Assert.Equal(datagram.Length, (int)sendto(sender, start, (nuint)datagram.Length, 0, &to, (uint)sizeof(sockaddr_nl)));
            }
        }
        finally
        {
            close(sender);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getsockname(int fd, void* addr, uint* addrlen);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint sendto(int fd, void* buf, nuint len, int flags, void* addr, uint addrlen);
}
