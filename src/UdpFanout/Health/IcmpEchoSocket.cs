using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// ICMP echo: a request whose payload is the 16-byte token; the reply must come from the probed address with
/// this socket's identifier, the request's sequence number and the token. A raw socket (CAP_NET_RAW) sees every
/// echo reply the host receives, so it checks the identifier; a datagram ICMP socket (allowed by
/// net.ipv4.ping_group_range without the capability) gets only its own, the kernel having set the identifier.
/// </summary>
internal sealed unsafe class IcmpEchoSocket : ProbeSocket
{
    private const int EchoHeader = 8;
    private const byte EchoReply = 0;
    private const byte EchoRequest = 8;

    private readonly bool _raw;
    private readonly ushort _identifier;

    private IcmpEchoSocket(Socket socket, bool raw) : base(socket)
    {
        _raw = raw;
        Span<byte> identifier = stackalloc byte[2];
        ProbeTokens.Fill(identifier);
        _identifier = BitConverter.ToUInt16(identifier);
    }

    public override bool UsesSequence => true;

    public static IcmpEchoSocket Open()
    {
        Socket socket;
        bool raw;
        try
        {
            socket = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp);
            raw = true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            try
            {
                socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Icmp);
                raw = false;
            }
            catch (SocketException inner) when (inner.SocketErrorCode == SocketError.AccessDenied)
            {
                throw new SocketException((int)SocketError.AccessDenied,
                    "ICMP echo needs CAP_NET_RAW, or a group of the daemon inside net.ipv4.ping_group_range; or use protocol: udp_echo");
            }
        }
        try
        {
            if (raw)
            {
                OnlyEchoReplies(socket);
            }
            SizeReceiveBuffer(socket);
            var echo = new IcmpEchoSocket(socket, raw);
            if (raw)
            {
                OnlyIdentifier(socket, echo._identifier);
            }
            return echo;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override bool Matches(in OutgoingProbe sent, in ProbeReply reply) =>
        reply.Address == sent.Destination.sin_addr && reply.Sequence == sent.Sequence;

    protected override int WriteProbe(byte* slot, in OutgoingProbe probe)
    {
        var packet = new Span<byte>(slot, EchoHeader + sizeof(UInt128));
        packet[0] = EchoRequest;
        packet[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet[4..], _identifier);
        BinaryPrimitives.WriteUInt16BigEndian(packet[6..], probe.Sequence);
        MemoryMarshal.Write(packet[EchoHeader..], probe.Token);
        // A raw socket sends the checksum as written; a datagram socket's kernel fills in its own.
        BinaryPrimitives.WriteUInt16BigEndian(packet[2..], InternetChecksum.Of(packet));
        return packet.Length;
    }

    protected override bool TryReadReply(ReadOnlySpan<byte> datagram, in sockaddr_in from, out ProbeReply reply)
    {
        reply = default;
        var icmp = datagram;
        if (_raw)
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
        if (icmp.Length != EchoHeader + sizeof(UInt128) || icmp[0] != EchoReply || icmp[1] != 0)
        {
            return false;
        }
        if (_raw && BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]) != _identifier)
        {
            return false;
        }
        reply.Sequence = BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]);
        reply.Token = MemoryMarshal.Read<UInt128>(icmp[EchoHeader..]);
        reply.Address = from.sin_addr;
        return true;
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
}
