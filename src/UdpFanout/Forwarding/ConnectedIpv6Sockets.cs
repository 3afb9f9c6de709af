using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// A worker's UDP sockets connected to the IPv6 downstreams of its active set, one each, for <see cref="SendBatch"/>.
/// An unconnected IPv6 socket makes the kernel look the route up in the IPv6 FIB for every datagram (and check the
/// source an IPV6_PKTINFO names): about a third of an IPv6 send, which made the af_xdp forwarder's IPv6 throughput
/// 0.84x its IPv4 one and had the RX ring overflow in bursts that IPv4 absorbs. A connected socket keeps its route and
/// source: 2.2 us per datagram instead of 3.1 us here (IPv4 unconnected: 2.5 us). connect() selects the source as
/// <see cref="DownstreamSources"/> learns it, so the sockets are opened again whenever those are learnt again (the
/// set's <see cref="DownstreamSources.Current"/> replaced: an address or route changed) and with each new set. Until
/// then a connected socket keeps the source it had even once the host no longer has it (the kernel does not check a
/// connected socket's source per datagram), so that is as current as <see cref="SourceFollower"/> keeps the sources.
/// Like the worker's own sockets they accept nothing and report ICMP errors (<see cref="ReadErrors"/>). A downstream
/// whose socket cannot be opened or connected (no route now) keeps the unconnected path. One thread uses an instance.
/// A worker whose IPv6 socket is bound to one address (a userspace listener on that address) has the sockets bound
/// to it as well: the source stays the listener's, there is none to learn, and they are opened with each new set.
/// </summary>
/// <param name="source">The address the worker's IPv6 socket is bound to; null for the wildcard.</param>
internal sealed unsafe class ConnectedIpv6Sockets(int sendBufferBytes, sockaddr_inet? source = null) : IDisposable
{
    /// <summary>
    /// Beyond this many IPv6 downstreams the worker keeps one unconnected socket: each connected one costs a read of
    /// its error queue whenever the worker waits, and a large set spreads a batch too thin to gain from them.
    /// </summary>
    public const int MaxDownstreams = 32;

    private ActiveDownstreams? _set;
    private in6_pktinfo[]? _sources;
    private int[] _fds = [];

    /// <summary>
    /// The connected socket of each downstream of <paramref name="downstreams"/> by index, -1 for one that has none;
    /// empty when none has. Opens them on the first call for a set or after its sources were learnt again (never per datagram).
    /// </summary>
    public int[] For(ActiveDownstreams downstreams)
    {
        var sources = downstreams.Sources.Current;
        if (!ReferenceEquals(_set, downstreams) || !ReferenceEquals(_sources, sources))
        {
            CloseAll();
            _set = downstreams;
            _sources = sources;
            _fds = Open(downstreams.Addresses, source is not null || sources.Length > 0);
        }
        return _fds;
    }

    /// <summary>The sockets <see cref="For"/> opened last, whose ICMP errors the worker reads; -1 entries have none.</summary>
    public int[] Current => _fds;

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (_disposed.First())
        {
            CloseAll();
        }
    }

    private int[] Open(sockaddr_inet[] addresses, bool anyIpv6)
    {
        if (!anyIpv6 || addresses.Count(a => a.family == AF_INET6) > MaxDownstreams)
        {
            return [];
        }
        var fds = new int[addresses.Length];
        var opened = 0;
        for (var i = 0; i < addresses.Length; i++)
        {
            fds[i] = addresses[i].family == AF_INET6 ? OpenOne(addresses[i]) : -1;
            opened += fds[i] >= 0 ? 1 : 0;
        }
        return opened > 0 ? fds : [];
    }

    private int OpenOne(sockaddr_inet destination)
    {
        var fd = socket(AF_INET6, SOCK_DGRAM | Interop.Netlink.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return -1;
        }
        var on = 1;
        var bytes = sendBufferBytes;
        var drop = new sock_filter { code = BPF_RET_K, k = 0 };
        var program = new sock_fprog { len = 1, filter = &drop };
        // As the worker's own sockets (SendSocket): the send buffer, ICMP errors queued, nothing received; connect
        // then picks the port and the source. The capped buffer option when the forced one is not allowed: the
        // worker's own socket already said so in the log.
        if ((setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(int)) != 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(int)) != 0)
            || setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof(int)) != 0
            || setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, (uint)sizeof(sock_fprog)) != 0
            || source is { } bound && bind(fd, &bound, (uint)sizeof(sockaddr_in6)) != 0
            || connect(fd, &destination, (uint)sizeof(sockaddr_in6)) != 0)
        {
            close(fd);
            return -1;
        }
        return fd;
    }

    private void CloseAll()
    {
        foreach (var fd in _fds)
        {
            if (fd >= 0)
            {
                close(fd);
            }
        }
        _fds = [];
        _set = null;
        _sources = null;
    }
}
