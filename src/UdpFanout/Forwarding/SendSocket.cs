using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// The socket a worker sends forwarded datagrams from. It is never a listening socket: a downstream that answers
/// (a UDP echo on the data port, say) answers this socket's own port, and a filter that accepts nothing drops the
/// answer, so it can neither enter a listener and be forwarded again nor fill memory. What the socket does take
/// in is the ICMP errors the network returns for its datagrams (IP_RECVERR): <see cref="ReadErrors"/> counts
/// them per downstream. Reading them allocates nothing; one worker thread owns each socket.
/// </summary>
internal sealed unsafe class SendSocket : IDisposable
{
    private const int ErrorBatch = 16;
    // A cmsghdr, the sock_extended_err and the offender's sockaddr_in: 48 bytes, with room to spare.
    private const int ControlBytes = 64;

    private readonly Socket _socket;
    private readonly mmsghdr* _errors;
    private readonly sockaddr_in* _destinations;
    private readonly byte* _control;

    private SendSocket(Socket socket)
    {
        _socket = socket;
        Fd = (int)socket.Handle;
        _errors = (mmsghdr*)NativeMemory.AllocZeroed(ErrorBatch, (nuint)sizeof(mmsghdr));
        _destinations = (sockaddr_in*)NativeMemory.AllocZeroed(ErrorBatch, (nuint)sizeof(sockaddr_in));
        _control = (byte*)NativeMemory.AllocZeroed(ErrorBatch, ControlBytes);
    }

    public int Fd { get; }

    /// <summary>
    /// A UDP socket bound to <paramref name="source"/> and a port of the kernel's choosing (<see cref="IPAddress.Any"/>
    /// lets the route pick the source address per downstream).
    /// </summary>
    public static SendSocket Open(IPAddress source, int sendBufferBytes, ILogger logger, string listener)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            SocketBuffer.Set(socket, receive: false, sendBufferBytes, logger, listener);
            socket.SetRawSocketOption(SOL_IP, IP_RECVERR, BitConverter.GetBytes(1));
            AcceptNothing(socket);
            socket.Bind(new IPEndPoint(source, 0));
            return new SendSocket(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ForwarderException($"listener '{listener}': cannot open a sending socket on {source}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Counts every ICMP error queued for this socket against the downstream its datagram was sent to, as long as
    /// that downstream is in <paramref name="downstreams"/>. Reading the queue also clears the socket's pending
    /// error, which would otherwise fail the next send once. Returns how many errors it read.
    /// </summary>
    public int ReadErrors(ActiveDownstreams downstreams)
    {
        var total = 0;
        int read;
        do
        {
            for (var i = 0; i < ErrorBatch; i++)
            {
                ref var h = ref _errors[i].msg_hdr;
                h.msg_name = _destinations + i;
                h.msg_namelen = (uint)sizeof(sockaddr_in);
                h.msg_control = _control + i * ControlBytes;
                h.msg_controllen = ControlBytes;
                h.msg_flags = 0;
            }
            read = recvmmsg(Fd, _errors, ErrorBatch, MSG_ERRQUEUE | MSG_DONTWAIT, null);
            for (var i = 0; i < read; i++)
            {
                Count(ref _errors[i].msg_hdr, _destinations[i], downstreams);
            }
            total += Math.Max(read, 0);
        }
        while (read == ErrorBatch);
        return total;
    }

    public void Dispose()
    {
        _socket.Dispose();
        NativeMemory.Free(_errors);
        NativeMemory.Free(_destinations);
        NativeMemory.Free(_control);
    }

    /// <summary>The error's control message names the ICMP type and code; the message's address is where the datagram went.</summary>
    private static void Count(ref msghdr message, sockaddr_in destination, ActiveDownstreams downstreams)
    {
        if (message.msg_controllen < (nuint)(sizeof(cmsghdr) + sizeof(sock_extended_err)))
        {
            return;
        }
        var header = (cmsghdr*)message.msg_control;
        var error = (sock_extended_err*)(header + 1);
        if (header->cmsg_level != SOL_IP || header->cmsg_type != IP_RECVERR || error->ee_origin != SO_EE_ORIGIN_ICMP)
        {
            return;
        }
        var addresses = downstreams.Addresses;
        for (var d = 0; d < addresses.Length; d++)
        {
            if (addresses[d].sin_addr == destination.sin_addr && addresses[d].sin_port == destination.sin_port)
            {
                downstreams.Counters[d].AddIcmpError(IcmpErrors.Classify(error->ee_type, error->ee_code));
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
