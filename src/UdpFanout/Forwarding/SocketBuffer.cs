using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>Sizes the kernel buffers of the data path's sockets.</summary>
internal static partial class SocketBuffer
{
    /// <summary>The FORCE variant passes net.core.[rw]mem_max when the process has CAP_NET_ADMIN; else the capped one.</summary>
    public static void Set(Socket socket, bool receive, int bytes, ILogger logger, string listener)
    {
        var (force, capped) = receive ? (SO_RCVBUFFORCE, SO_RCVBUF) : (SO_SNDBUFFORCE, SO_SNDBUF);
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
            LogBufferCapped(logger, listener, receive ? "receive" : "send", bytes, BitConverter.ToInt32(actual) / 2);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: no CAP_NET_ADMIN to force the {Which} buffer to {Wanted} bytes; the kernel's limit gave {Actual} (raise net.core.rmem_max/wmem_max)")]
    private static partial void LogBufferCapped(ILogger logger, string listener, string which, int wanted, int actual);
}
