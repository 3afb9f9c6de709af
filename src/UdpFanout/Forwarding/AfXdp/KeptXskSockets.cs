using Microsoft.Extensions.Logging;
using UdpFanout.Systemd;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// A listener's AF_XDP sockets in the <see cref="FileDescriptorStore"/>, each with its UMEM's memfd
/// (FDNAME=&lt;listener&gt;/xsk&lt;queue&gt; and &lt;listener&gt;/umem&lt;queue&gt;). Under systemd a socket outlives
/// the process with the frames its rings hold: after a crash its RX ring keeps what the killed forwarder had not
/// sent yet, and nothing more arrives meanwhile (the kernel empties the interface's XDP chain as the process's
/// descriptors close, so the listener's datagrams wait in the kept fallback socket), and the next process takes the
/// socket over and forwards them. Without systemd a socket closes with its listener, as it always did.
/// </summary>
internal static partial class KeptXskSockets
{
    public static string SocketName(string listener, int queue) => $"{listener}/xsk{queue}";

    public static string UmemName(string listener, int queue) => $"{listener}/umem{queue}";

    /// <summary>
    /// The socket the store kept for <paramref name="queue"/> when it still fits, else a new one, handed to the store.
    /// A kept one that does not fit (another interface, MTU or version) is closed and leaves the store, with a warning.
    /// </summary>
    public static XskSocket OpenOrAdopt(FileDescriptorStore store, string listener, int ifindex, int queue, int frameSize, ILogger logger)
    {
        var (socketName, umemName) = (SocketName(listener, queue), UmemName(listener, queue));
        var kept = store.Take(socketName, fd => new InheritedFd(fd), _ => true);
        var umem = store.Take(umemName, fd => new InheritedFd(fd), _ => true);
        if (kept is not null && umem is not null)
        {
            string misfit;
            try
            {
                var socket = XskSocket.Adopt(kept.Fd, umem.Fd, ifindex, queue, frameSize, out misfit, out var skipped, out var leftOut);
                if (socket is not null)
                {
                    LogAdopted(logger, listener, queue, socket.Rx.Available(out _), skipped, leftOut);
                    return socket;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ForwarderException)
            {
                // Not a memfd where one was stored, or one that cannot be mapped: as unusable as one that does not fit.
                misfit = e.Message;
            }
            LogMisfit(logger, listener, queue, misfit);
        }
        if (kept is not null)
        {
            store.Drop(socketName, kept);
        }
        if (umem is not null)
        {
            store.Drop(umemName, umem);
        }
        var opened = XskSocket.Open(ifindex, queue, frameSize);
        store.Keep(socketName, opened.Fd);
        store.Keep(umemName, opened.UmemFd);
        return opened;
    }

    /// <summary>
    /// Gives a stopped listener's socket back to the store: under systemd it stays open, for the listener's next start
    /// or the next process; without systemd it closes. A stop path: never throws.
    /// </summary>
    public static void Return(FileDescriptorStore store, string listener, int queue, XskSocket socket)
    {
        socket.Unmap();
        store.Return(SocketName(listener, queue), new InheritedFd(socket.Fd));
        store.Return(UmemName(listener, queue), new InheritedFd(socket.UmemFd));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: queue {Queue} resumes on its kept AF_XDP socket, {Waiting} frame(s) waiting in its RX ring; {Skipped} the previous process had taken to send are not sent again, {LeftOut} UMEM frame(s) left out of use")]
    private static partial void LogAdopted(ILogger logger, string listener, int queue, uint waiting, uint skipped, uint leftOut);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: the kept AF_XDP socket of queue {Queue} does not fit ({Reason}): closed, a new one opened")]
    private static partial void LogMisfit(ILogger logger, string listener, int queue, string reason);
}
