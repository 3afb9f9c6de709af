using System.Net;
using System.Net.Sockets;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// UDP echo: the probe is a random 16-byte token; the reply is the same 16 bytes from the address and port the
/// probe went to. One unconnected socket per family for every downstream, so the source is checked here, not by
/// the kernel.
/// </summary>
internal sealed unsafe class UdpEchoSocket : ProbeSocket
{
    private UdpEchoSocket(Socket v4, Socket? v6) : base(v4, v6)
    {
    }

    public override bool UsesSequence => false;

    public static UdpEchoSocket Open()
    {
        var v4 = OpenOne(IPAddress.Any);
        try
        {
            return new UdpEchoSocket(v4, OpenIpv6IfAny(() => OpenOne(IPAddress.IPv6Any)));
        }
        catch
        {
            v4.Dispose();
            throw;
        }
    }

    public override bool Matches(in OutgoingProbe sent, in ProbeReply reply) => reply.From.SameEndPoint(sent.Destination);

    protected override int WriteProbe(byte* slot, in OutgoingProbe probe)
    {
        *(UInt128*)slot = probe.Token;
        return sizeof(UInt128);
    }

    protected override bool TryReadReply(ReadOnlySpan<byte> datagram, in sockaddr_inet from, out ProbeReply reply)
    {
        reply = default;
        if (datagram.Length != sizeof(UInt128))
        {
            return false;
        }
        reply.Token = System.Runtime.InteropServices.MemoryMarshal.Read<UInt128>(datagram);
        reply.From = from;
        return true;
    }

    private static Socket OpenOne(IPAddress any)
    {
        var socket = new Socket(any.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (any.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // IPv4 probes go from the IPv4 socket; this one neither sends nor takes IPv4.
                socket.SetRawSocketOption(SOL_IPV6, IPV6_V6ONLY, BitConverter.GetBytes(1));
            }
            SizeReceiveBuffer(socket);
            socket.Bind(new IPEndPoint(any, 0));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
