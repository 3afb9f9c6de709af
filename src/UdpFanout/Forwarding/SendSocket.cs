using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// The sockets a worker sends forwarded datagrams from, one per address family, as a listener may forward to IPv4
/// and IPv6 downstreams together. Neither is a listening socket: a downstream that answers (a UDP echo on the data
/// port, say) answers a sending socket's own port, and a filter that accepts nothing drops the answer, so it can
/// neither enter a listener and be forwarded again nor fill memory. What the sockets do take in is the ICMP and
/// ICMPv6 errors the network returns for their datagrams (IP_RECVERR, IPV6_RECVERR): <see cref="ReadErrors"/>
/// counts them per downstream. Reading them allocates nothing; one worker thread owns each instance.
/// </summary>
internal sealed unsafe class SendSocket : IDisposable
{
    private const int ErrorBatch = 16;
    // A cmsghdr, the sock_extended_err and the offender's sockaddr_in6: 60 bytes, with room to spare.
    private const int ControlBytes = 64;

    private readonly Socket _v4;
    private readonly Socket? _v6;
    private readonly mmsghdr* _errors;
    private readonly sockaddr_inet* _destinations;
    private readonly byte* _control;

    private SendSocket(Socket v4, Socket? v6, IPAddress? ipv6Source, int sendBufferBytes)
    {
        Ipv6Wildcard = v6 is not null && ipv6Source is null;
        _v4 = v4;
        _v6 = v6;
        Fd = (int)v4.Handle;
        Fd6 = v6 is null ? -1 : (int)v6.Handle;
        Connected = v6 is null ? null
            : new ConnectedIpv6Sockets(sendBufferBytes, ipv6Source is null ? null : sockaddr_inet.From(new IPEndPoint(ipv6Source, 0)));
        _errors = (mmsghdr*)NativeMemory.AllocZeroed(ErrorBatch, (nuint)sizeof(mmsghdr));
        _destinations = (sockaddr_inet*)NativeMemory.AllocZeroed(ErrorBatch, (nuint)sizeof(sockaddr_inet));
        _control = (byte*)NativeMemory.AllocZeroed(ErrorBatch, ControlBytes);
    }

    /// <summary>The IPv4 socket.</summary>
    public int Fd { get; }

    /// <summary>The IPv6 socket; -1 when the kernel has no IPv6 (booted with ipv6.disable=1).</summary>
    public int Fd6 { get; }

    /// <summary>
    /// Whether the IPv6 socket is bound to the wildcard, the kernel then selecting a source per datagram unless it is
    /// given one (<see cref="SendBatch"/>, <see cref="DownstreamSources"/>).
    /// </summary>
    public bool Ipv6Wildcard { get; }

    /// <summary>
    /// The sockets connected to each IPv6 downstream, which <see cref="SendBatch"/> sends from where it can (bound to
    /// the IPv6 socket's address unless that is the wildcard); null when the kernel has no IPv6.
    /// </summary>
    public ConnectedIpv6Sockets? Connected { get; }

    /// <summary>The socket that sends to addresses of <paramref name="family"/> (AF_INET or AF_INET6); -1 when there is none.</summary>
    public int FdFor(ushort family) => family == AF_INET6 ? Fd6 : Fd;

    /// <summary>
    /// One UDP socket per family on a port of the kernel's choosing, the one of <paramref name="source"/>'s family
    /// bound to it (a wildcard lets the route pick the source address per downstream), the other to its wildcard.
    /// </summary>
    public static SendSocket Open(IPAddress source, int sendBufferBytes, ILogger logger, string listener)
    {
        var v4 = OpenOne(source.AddressFamily == AddressFamily.InterNetwork ? source : IPAddress.Any, sendBufferBytes, logger, listener);
        try
        {
            var v6 = source.AddressFamily == AddressFamily.InterNetworkV6
                ? OpenOne(source, sendBufferBytes, logger, listener)
                : OpenIpv6IfAny(sendBufferBytes, logger, listener);
            var ipv6Source = source.AddressFamily == AddressFamily.InterNetworkV6 && !source.Equals(IPAddress.IPv6Any) ? source : null;
            return new SendSocket(v4, v6, ipv6Source, sendBufferBytes);
        }
        catch
        {
            v4.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Counts every ICMP error queued for these sockets against the downstream its datagram was sent to, as long as
    /// that downstream is in <paramref name="downstreams"/>. Reading a queue also clears its socket's pending
    /// error, which would otherwise fail the next send once. Returns how many errors it read.
    /// </summary>
    public int ReadErrors(ActiveDownstreams downstreams)
    {
        var total = ReadErrors(Fd, downstreams) + (Fd6 < 0 ? 0 : ReadErrors(Fd6, downstreams));
        foreach (var fd in Connected?.Current ?? [])
        {
            total += fd < 0 ? 0 : ReadErrors(fd, downstreams);
        }
        return total;
    }

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        _v4.Dispose();
        _v6?.Dispose();
        Connected?.Dispose();
        NativeMemory.Free(_errors);
        NativeMemory.Free(_destinations);
        NativeMemory.Free(_control);
    }

    private static Socket OpenOne(IPAddress source, int sendBufferBytes, ILogger logger, string listener)
    {
        var socket = UdpSockets.Open(source.AddressFamily, listener);
        try
        {
            SocketBuffer.Set(socket, receive: false, sendBufferBytes, logger, listener);
            if (source.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.SetRawSocketOption(SOL_IPV6, IPV6_RECVERR, BitConverter.GetBytes(1));
            }
            else
            {
                socket.SetRawSocketOption(SOL_IP, IP_RECVERR, BitConverter.GetBytes(1));
            }
            AcceptNothing(socket);
            socket.Bind(new IPEndPoint(source, 0));
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ForwarderException($"listener '{listener}': cannot open a sending socket on {source}: {e.Message}", e);
        }
    }

    /// <summary>The IPv6 socket of a listener on an IPv4 address, which a host without IPv6 cannot open and does not need.</summary>
    private static Socket? OpenIpv6IfAny(int sendBufferBytes, ILogger logger, string listener)
    {
        try
        {
            return OpenOne(IPAddress.IPv6Any, sendBufferBytes, logger, listener);
        }
        catch (ForwarderException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressFamilyNotSupported })
        {
            // Without IPv6 the config holds no IPv6 downstream that could work: one would be dropped as send_error.
            return null;
        }
    }

    private int ReadErrors(int fd, ActiveDownstreams downstreams)
    {
        var total = 0;
        int read;
        do
        {
            for (var i = 0; i < ErrorBatch; i++)
            {
                ref var h = ref _errors[i].msg_hdr;
                h.msg_name = _destinations + i;
                h.msg_namelen = (uint)sizeof(sockaddr_inet);
                h.msg_control = _control + i * ControlBytes;
                h.msg_controllen = ControlBytes;
                h.msg_flags = 0;
            }
            read = recvmmsg(fd, _errors, ErrorBatch, MSG_ERRQUEUE | MSG_DONTWAIT, null);
            for (var i = 0; i < read; i++)
            {
                Count(ref _errors[i].msg_hdr, _destinations[i], downstreams);
            }
            total += Math.Max(read, 0);
        }
        while (read == ErrorBatch);
        return total;
    }

    /// <summary>The error's control message names the ICMP type and code; the message's address is where the datagram went.</summary>
    private static void Count(ref msghdr message, in sockaddr_inet destination, ActiveDownstreams downstreams)
    {
        if (message.msg_controllen < (nuint)(sizeof(cmsghdr) + sizeof(sock_extended_err)))
        {
            return;
        }
        var header = (cmsghdr*)message.msg_control;
        var error = (sock_extended_err*)(header + 1);
        IcmpError kind;
        if (header->cmsg_level == SOL_IP && header->cmsg_type == IP_RECVERR && error->ee_origin == SO_EE_ORIGIN_ICMP)
        {
            kind = IcmpErrors.Classify(error->ee_type, error->ee_code);
        }
        else if (header->cmsg_level == SOL_IPV6 && header->cmsg_type == IPV6_RECVERR && error->ee_origin == SO_EE_ORIGIN_ICMP6)
        {
            kind = IcmpErrors.Classify6(error->ee_type, error->ee_code);
        }
        else
        {
            return;
        }
        var addresses = downstreams.Addresses;
        for (var d = 0; d < addresses.Length; d++)
        {
            if (addresses[d].SameEndPoint(destination))
            {
                downstreams.Counters[d].AddIcmpError(kind);
                return;
            }
        }
    }

    /// <summary>A classic BPF filter of one instruction, "keep 0 bytes": the kernel drops every datagram addressed to the socket.</summary>
    private static void AcceptNothing(Socket socket)
    {
        var drop = new sock_filter { code = BPF_RET_K, k = 0 };
        var program = new sock_fprog { len = 1, filter = &drop };
        socket.SetRawSocketOption(SOL_SOCKET, SO_ATTACH_FILTER, new ReadOnlySpan<byte>(&program, sizeof(sock_fprog)));
    }
}
