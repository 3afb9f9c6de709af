using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UdpFanout.Systemd;
using static Interop.Libc;

namespace UdpFanout.Forwarding.Userspace;

/// <summary>
/// Opens the SO_REUSEPORT UDP sockets that the workers of one listener share a port with. They only receive:
/// forwarded datagrams leave from each worker's <see cref="SendSocket"/>, so nothing a downstream sends back to
/// the sender of a datagram can arrive here and be forwarded again.
/// </summary>
internal static class ListenSocket
{
    /// <summary>How long a worker blocks in recvmmsg before it looks at the stop flag.</summary>
    public static readonly TimeSpan ReceiveTimeout = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The socket of worker <paramref name="worker"/>: the one kept in <paramref name="store"/> under its name when
    /// that is bound to <paramref name="bind"/> (with the datagrams that waited in it), else a new one, kept there.
    /// </summary>
    public static Socket Open(IPEndPoint bind, int recvBufferBytes, ILogger logger, string listener, FileDescriptorStore store, int worker)
    {
        var name = StoreName(listener, worker);
        if (store.Take(name, fd => new Socket(new SafeSocketHandle(fd, ownsHandle: true)), s => IsBoundTo(s, bind)) is { } kept)
        {
            try
            {
                // The buffer size may have changed with the config; the timeout is this process's to set.
                Configure(kept, recvBufferBytes, logger, listener);
                return kept;
            }
            catch
            {
                kept.Dispose();
                throw;
            }
        }
        var socket = Open(bind, recvBufferBytes, logger, listener);
        store.Keep(name, (int)socket.Handle);
        return socket;
    }

    /// <summary>The name a worker's socket has in systemd's file descriptor store.</summary>
    public static string StoreName(string listener, int worker) => $"{listener}/{worker}";

    public static Socket Open(IPEndPoint bind, int recvBufferBytes, ILogger logger, string listener)
    {
        var socket = UdpSockets.Open(bind.AddressFamily, listener);
        try
        {
            socket.SetRawSocketOption(SOL_SOCKET, SO_REUSEPORT, BitConverter.GetBytes(1));
            if (bind.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // [::] receives IPv4 too (as ::ffff:a.b.c.d), as users of most servers expect and whatever
                // net.ipv6.bindv6only says; a listener on one IPv6 address receives on that address alone anyway.
                socket.SetRawSocketOption(SOL_IPV6, IPV6_V6ONLY, BitConverter.GetBytes(bind.Address.Equals(IPAddress.IPv6Any) ? 0 : 1));
            }
            Configure(socket, recvBufferBytes, logger, listener);
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

    private static bool IsBoundTo(Socket socket, IPEndPoint bind) =>
        socket.SocketType == SocketType.Dgram && socket.AddressFamily == bind.AddressFamily && bind.Equals(socket.LocalEndPoint);

    private static void Configure(Socket socket, int recvBufferBytes, ILogger logger, string listener)
    {
        SocketBuffer.Set(socket, receive: true, recvBufferBytes, logger, listener);
        Span<long> timeval = [0, (long)ReceiveTimeout.TotalMicroseconds];
        socket.SetRawSocketOption(SOL_SOCKET, SO_RCVTIMEO, System.Runtime.InteropServices.MemoryMarshal.AsBytes(timeval));
    }
}
