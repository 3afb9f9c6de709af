using System.Net;
using System.Net.Sockets;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// UDP echo: the probe is a random 16-byte token; the reply is the same 16 bytes from the address and port the
/// probe went to. One unconnected socket for every downstream, so the source is checked here, not by the kernel.
/// </summary>
internal sealed unsafe class UdpEchoSocket : ProbeSocket
{
    private UdpEchoSocket(Socket socket) : base(socket)
    {
    }

    public override bool UsesSequence => false;

    public static UdpEchoSocket Open()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            SizeReceiveBuffer(socket);
            socket.Bind(new IPEndPoint(IPAddress.Any, 0));
            return new UdpEchoSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override bool Matches(in OutgoingProbe sent, in ProbeReply reply) =>
        reply.Address == sent.Destination.sin_addr && reply.Port == sent.Destination.sin_port;

    protected override int WriteProbe(byte* slot, in OutgoingProbe probe)
    {
        *(UInt128*)slot = probe.Token;
        return sizeof(UInt128);
    }

    protected override bool TryReadReply(ReadOnlySpan<byte> datagram, in sockaddr_in from, out ProbeReply reply)
    {
        reply = default;
        if (datagram.Length != sizeof(UInt128))
        {
            return false;
        }
        reply.Token = System.Runtime.InteropServices.MemoryMarshal.Read<UInt128>(datagram);
        reply.Address = from.sin_addr;
        reply.Port = from.sin_port;
        return true;
    }
}
