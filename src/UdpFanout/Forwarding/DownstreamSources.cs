using System.Runtime.InteropServices;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// The source address the kernel picks for each IPv6 downstream of a set, learnt once per set and per change of the
/// kernel's addresses or routes instead of once per datagram. A socket bound to the wildcard leaves that choice to
/// IPv6 source address selection (RFC 6724) on every send, which costs about a quarter of a forwarding thread at
/// full rate; given the address in an IPV6_PKTINFO control message, the kernel only checks that it is local.
/// Learnt as the kernel itself chooses, so the downstream sees the same source: a UDP socket connected to the
/// downstream (connect routes and selects, it sends nothing) names it in getsockname. An entry with the unspecified
/// address (::) is unknown: no route at that time, an IPv4 downstream, a host without IPv6; its datagrams go
/// without the control message, the kernel selecting per datagram as before. Each set of entries is replaced
/// whole, so a reader sees one consistent snapshot; entries are in the form the control message carries.
/// Where it can, a worker sends from sockets connected to each IPv6 downstream instead (<see cref="ConnectedIpv6Sockets"/>,
/// cheaper still), which it connects afresh whenever these are learnt again; the control message serves the rest.
/// </summary>
internal sealed unsafe class DownstreamSources
{
    private readonly sockaddr_inet[] _addresses;
    private in6_pktinfo[] _current;
    private volatile bool _stale;

    /// <summary>Learns the sources before the set is published, so its first datagram already carries them.</summary>
    public DownstreamSources(sockaddr_inet[] addresses)
    {
        _addresses = addresses;
        _current = Learn(addresses);
    }

    /// <summary>Indexed like the set's addresses; empty when the set has no IPv6 downstream.</summary>
    public in6_pktinfo[] Current => Volatile.Read(ref _current);

    /// <summary>Whether a send found a source no longer valid since they were last learnt.</summary>
    public bool Stale => _stale;

    /// <summary>Learns them again after the kernel's addresses or routes changed (off the data path).</summary>
    public void Relearn()
    {
        _stale = false;
        Volatile.Write(ref _current, Learn(_addresses));
    }

    /// <summary>Has <see cref="SourceFollower"/> learn them again: a send found one no longer valid (data path; no allocation).</summary>
    public void MarkStale() => _stale = true;

    private static in6_pktinfo[] Learn(sockaddr_inet[] addresses)
    {
        if (!addresses.Any(a => a.family == AF_INET6))
        {
            return [];
        }
        var sources = new in6_pktinfo[addresses.Length];
        var fd = socket(AF_INET6, SOCK_DGRAM | Interop.Netlink.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            // No IPv6 in this kernel: every entry stays unknown, and sends fail as they did.
            return sources;
        }
        try
        {
            var unspecified = new sockaddr_inet { family = AF_UNSPEC };
            for (var i = 0; i < addresses.Length; i++)
            {
                var destination = addresses[i];
                if (destination.family != AF_INET6 || connect(fd, &destination, (uint)sizeof(sockaddr_in6)) != 0)
                {
                    // ENETUNREACH and the like: no route now, so none to pick a source from.
                    continue;
                }
                var bound = new sockaddr_in6();
                var length = (uint)sizeof(sockaddr_in6);
                if (getsockname(fd, &bound, &length) == 0)
                {
                    var source = new in6_pktinfo();
                    Buffer.MemoryCopy(bound.sin6_addr, source.ipi6_addr, 16, 16);
                    sources[i] = source;
                }
                // Dissolved before the next: a connected socket keeps the source it was given and would offer it
                // again for a downstream that a route sends elsewhere.
                connect(fd, &unspecified, (uint)sizeof(sockaddr_inet));
            }
        }
        finally
        {
            close(fd);
        }
        return sources;
    }

    /// <summary>Whether <paramref name="source"/> holds an address, not the unspecified one of an unknown entry.</summary>
    public static bool Known(in in6_pktinfo source) =>
        MemoryMarshal.Read<UInt128>(MemoryMarshal.AsBytes(new ReadOnlySpan<in6_pktinfo>(in source))) != 0;
}
