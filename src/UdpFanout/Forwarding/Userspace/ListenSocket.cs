using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using static Interop.Libc;

namespace UdpFanout.Forwarding.Userspace;

/// <summary>Opens the SO_REUSEPORT UDP sockets that the workers of one listener share a port with.</summary>
internal static partial class ListenSocket
{
    /// <summary>How long a worker blocks in recvmmsg before it looks at the stop flag.</summary>
    public static readonly TimeSpan ReceiveTimeout = TimeSpan.FromMilliseconds(200);

    public static Socket Open(IPEndPoint bind, int recvBufferBytes, int sendBufferBytes, ILogger logger, string listener)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetRawSocketOption(SOL_SOCKET, SO_REUSEPORT, BitConverter.GetBytes(1));
            SetBuffer(socket, SO_RCVBUFFORCE, SO_RCVBUF, recvBufferBytes, "receive", logger, listener);
            SetBuffer(socket, SO_SNDBUFFORCE, SO_SNDBUF, sendBufferBytes, "send", logger, listener);
            Span<long> timeval = [0, (long)ReceiveTimeout.TotalMicroseconds];
            socket.SetRawSocketOption(SOL_SOCKET, SO_RCVTIMEO, System.Runtime.InteropServices.MemoryMarshal.AsBytes(timeval));
            socket.Bind(bind);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var hint = e.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "another program holds that port without SO_REUSEPORT; stop it or change bind",
                SocketError.AddressNotAvailable => "no interface has that address; change bind",
                SocketError.AccessDenied => "ports below 1024 need CAP_NET_BIND_SERVICE",
                _ => "check bind",
            };
            throw new ForwarderException($"listener '{listener}': cannot bind {bind}: {e.Message} ({hint})", e);
        }
    }

    /// <summary>The FORCE variant passes net.core.[rw]mem_max when the process has CAP_NET_ADMIN; else the capped one.</summary>
    private static void SetBuffer(Socket socket, int force, int capped, int bytes, string which, ILogger logger, string listener)
    {
        try
        {
            socket.SetRawSocketOption(SOL_SOCKET, force, BitConverter.GetBytes(bytes));
        }
        catch (SocketException)
        {
            socket.SetRawSocketOption(SOL_SOCKET, capped, BitConverter.GetBytes(bytes));
            var actual = new byte[4];
            socket.GetRawSocketOption(SOL_SOCKET, capped, actual);
            // The kernel reports double what it accounts, which includes its own bookkeeping.
            LogBufferCapped(logger, listener, which, bytes, BitConverter.ToInt32(actual) / 2);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: no CAP_NET_ADMIN to force the {Which} buffer to {Wanted} bytes; the kernel's limit gave {Actual} (raise net.core.rmem_max/wmem_max)")]
    private static partial void LogBufferCapped(ILogger logger, string listener, string which, int wanted, int actual);
}
