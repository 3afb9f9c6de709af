using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// ICMP echo, and ICMPv6 echo for IPv6 downstreams: a request whose payload is the 16-byte token; the reply must
/// come from the probed address with this socket's identifier, the request's sequence number and the token. A raw
/// socket (CAP_NET_RAW) sees every echo reply the host receives, so it checks the identifier; a datagram ICMP
/// socket (allowed by net.ipv4.ping_group_range without the capability, for both families) gets only its own, the
/// kernel having set the identifier.
/// </summary>
internal sealed unsafe class IcmpEchoSocket : ProbeSocket
{
    private const int EchoHeader = 8;
    private const byte EchoReply = 0;
    private const byte EchoRequest = 8;
    private const byte Echo6Request = 128;
    private const byte Echo6Reply = 129;

    private readonly bool _raw;
    private readonly bool _raw6;
    private readonly ushort _identifier;

    private IcmpEchoSocket(Socket v4, Socket? v6) : base(v4, v6)
    {
        _raw = v4.SocketType == SocketType.Raw;
        _raw6 = v6?.SocketType == SocketType.Raw;
        Span<byte> identifier = stackalloc byte[2];
        ProbeTokens.Fill(identifier);
        _identifier = BitConverter.ToUInt16(identifier);
    }

    public override bool UsesSequence => true;

    public static IcmpEchoSocket Open()
    {
        var v4 = OpenOne(AddressFamily.InterNetwork, ProtocolType.Icmp);
        Socket? v6 = null;
        try
        {
            v6 = OpenIpv6IfAny(() => OpenOne(AddressFamily.InterNetworkV6, ProtocolType.IcmpV6));
            foreach (var socket in new[] { v4, v6 })
            {
                if (socket is not null)
                {
                    SizeReceiveBuffer(socket);
                }
            }
            var echo = new IcmpEchoSocket(v4, v6);
            if (echo._raw)
            {
                OnlyEchoReplies(v4);
                OnlyIdentifier(v4, echo._identifier);
            }
            if (echo._raw6)
            {
                OnlyEcho6Replies(v6!);
                OnlyIdentifier6(v6!, echo._identifier);
            }
            return echo;
        }
        catch
        {
            v4.Dispose();
            v6?.Dispose();
            throw;
        }
    }

    public override bool Matches(in OutgoingProbe sent, in ProbeReply reply) =>
        reply.From.SameAddress(sent.Destination) && reply.Sequence == sent.Sequence;

    protected override int WriteProbe(byte* slot, in OutgoingProbe probe)
    {
        var ipv6 = probe.Destination.family == AF_INET6;
        var packet = new Span<byte>(slot, EchoHeader + sizeof(UInt128));
        packet[0] = ipv6 ? Echo6Request : EchoRequest;
        packet[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet[4..], _identifier);
        BinaryPrimitives.WriteUInt16BigEndian(packet[6..], probe.Sequence);
        MemoryMarshal.Write(packet[EchoHeader..], probe.Token);
        // A raw ICMP socket sends the checksum as written; a datagram socket's kernel fills in its own, and for
        // ICMPv6, whose checksum covers a pseudo-header with the source address, the kernel always does (RFC 3542).
        if (!ipv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[2..], InternetChecksum.Of(packet));
        }
        return packet.Length;
    }

    protected override bool TryReadReply(ReadOnlySpan<byte> datagram, in sockaddr_inet from, out ProbeReply reply)
    {
        reply = default;
        var ipv6 = from.family == AF_INET6;
        var icmp = datagram;
        // A raw IPv4 socket hands over the IP header too; an IPv6 one, like every datagram socket, starts at ICMP.
        if (_raw && !ipv6)
        {
            if (datagram.Length < 20)
            {
                return false;
            }
            var headerLength = (datagram[0] & 0x0f) * 4;
            if (headerLength < 20 || datagram.Length < headerLength)
            {
                return false;
            }
            icmp = datagram[headerLength..];
        }
        if (icmp.Length != EchoHeader + sizeof(UInt128) || icmp[0] != (ipv6 ? Echo6Reply : EchoReply) || icmp[1] != 0)
        {
            return false;
        }
        if ((ipv6 ? _raw6 : _raw) && BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]) != _identifier)
        {
            return false;
        }
        reply.Sequence = BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]);
        reply.Token = MemoryMarshal.Read<UInt128>(icmp[EchoHeader..]);
        reply.From = from;
        return true;
    }

    /// <summary>A raw socket when the capability allows, else a datagram ICMP socket (ping_group_range).</summary>
    private static Socket OpenOne(AddressFamily family, ProtocolType protocol)
    {
        try
        {
            return new Socket(family, SocketType.Raw, protocol);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            try
            {
                return new Socket(family, SocketType.Dgram, protocol);
            }
            catch (SocketException inner) when (inner.SocketErrorCode == SocketError.AccessDenied)
            {
                throw new SocketException((int)SocketError.AccessDenied,
                    "ICMP echo needs CAP_NET_RAW, or a group of the daemon inside net.ipv4.ping_group_range; or use protocol: udp_echo");
            }
        }
    }

    /// <summary>
    /// A socket filter that keeps only replies with this socket's identifier. Every raw ICMP socket gets a copy of
    /// every echo reply the host receives: without it, each listener's checker would read every other listener's
    /// replies too, and ten listeners would read ten times the replies they sent for.
    /// </summary>
    private static void OnlyIdentifier(Socket socket, ushort identifier)
    {
        // The raw socket's data starts at the IP header; the identifier is 4 bytes into the ICMP header.
        sock_filter* program = stackalloc sock_filter[]
        {
            new() { code = BPF_LDX_B_MSH, k = 0 },
            new() { code = BPF_LD_H_IND, k = 4 },
            new() { code = BPF_JEQ_K, jt = 0, jf = 1, k = identifier },
            new() { code = BPF_RET_K, k = 0xffff },
            new() { code = BPF_RET_K, k = 0 },
        };
        var filter = new sock_fprog { len = 5, filter = program };
        socket.SetRawSocketOption(SOL_SOCKET, SO_ATTACH_FILTER, new ReadOnlySpan<byte>(&filter, sizeof(sock_fprog)));
    }

    /// <summary>
    /// ICMP_FILTER (a raw socket's own filter, bit n set drops type n): keep only echo replies, so the requests and
    /// errors that pass through the host never wake the checker.
    /// </summary>
    private static void OnlyEchoReplies(Socket socket)
    {
        var dropAllButEchoReply = ~(1u << EchoReply);
        socket.SetRawSocketOption(SOL_RAW, ICMP_FILTER, BitConverter.GetBytes(dropAllButEchoReply));
    }

    /// <summary>
    /// <see cref="OnlyIdentifier"/> for the raw ICMPv6 socket, whose data, filter included, starts at the ICMPv6
    /// header: the identifier is at a fixed offset.
    /// </summary>
    private static void OnlyIdentifier6(Socket socket, ushort identifier)
    {
        sock_filter* program = stackalloc sock_filter[]
        {
            new() { code = BPF_LD_H_ABS, k = 4 },
            new() { code = BPF_JEQ_K, jt = 0, jf = 1, k = identifier },
            new() { code = BPF_RET_K, k = 0xffff },
            new() { code = BPF_RET_K, k = 0 },
        };
        var filter = new sock_fprog { len = 4, filter = program };
        socket.SetRawSocketOption(SOL_SOCKET, SO_ATTACH_FILTER, new ReadOnlySpan<byte>(&filter, sizeof(sock_fprog)));
    }

    /// <summary>
    /// ICMP6_FILTER (RFC 3542's struct icmp6_filter: 256 bits, bit n set blocks type n): keep only echo replies,
    /// so neighbour discovery and the requests that pass through the host never wake the checker.
    /// </summary>
    private static void OnlyEcho6Replies(Socket socket)
    {
        Span<uint> blocked = stackalloc uint[8];
        blocked.Fill(uint.MaxValue);
        blocked[Echo6Reply >> 5] &= ~(1u << (Echo6Reply & 31));
        socket.SetRawSocketOption(SOL_ICMPV6, ICMP6_FILTER, MemoryMarshal.AsBytes(blocked));
    }
}
