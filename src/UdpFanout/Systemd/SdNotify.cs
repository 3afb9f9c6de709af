using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using static Interop.Libc;

namespace UdpFanout.Systemd;

/// <summary>
/// sd_notify with a file descriptor attached (sd_pid_notify_with_fds): the one notify message that
/// Microsoft.Extensions.Hosting.Systemd's notifier cannot send, since the descriptor travels as an SCM_RIGHTS
/// control message beside the text.
/// </summary>
internal static class SdNotify
{
    /// <summary>How long a send waits for room when systemd's queue is full before it gives up.</summary>
    public const int FullQueueWaitMilliseconds = 2000;

    /// <summary>Sends <paramref name="state"/> to <paramref name="notifySocket"/>, with <paramref name="fd"/> attached unless it is -1.</summary>
    public static unsafe void Send(string notifySocket, string state, int fd = -1)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        // A leading '@' names an abstract socket, which the address spells with a NUL byte.
        socket.Connect(new UnixDomainSocketEndPoint(notifySocket.StartsWith('@') ? "\0" + notifySocket[1..] : notifySocket));
        var text = Encoding.UTF8.GetBytes(state);
        // CMSG_SPACE(sizeof(int)): the header, then the descriptor, padded to 8 bytes.
        var controlLength = sizeof(cmsghdr) + 8;
        var control = stackalloc byte[controlLength];
        fixed (byte* data = text)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)text.Length };
            var message = new msghdr { msg_iov = &iov, msg_iovlen = 1 };
            if (fd >= 0)
            {
                new Span<byte>(control, controlLength).Clear();
                var header = (cmsghdr*)control;
                header->cmsg_len = (nuint)(sizeof(cmsghdr) + sizeof(int));
                header->cmsg_level = SOL_SOCKET;
                header->cmsg_type = SCM_RIGHTS;
                *(int*)(control + sizeof(cmsghdr)) = fd;
                message.msg_control = control;
                message.msg_controllen = (nuint)controlLength;
            }
            // The queue holds net.unix.max_dgram_qlen messages (10 by default), and a start stores several
            // descriptors per listener (one per worker or queue, and more): a full queue is waited out, since systemd
            // reads it as it runs, but only so long, so that a systemd that does not read cannot hold a start or a
            // reload up; the caller logs what did not go.
            var deadline = Environment.TickCount64 + FullQueueWaitMilliseconds;
            while (sendmsg((int)socket.Handle, &message, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                var left = deadline - Environment.TickCount64;
                if (errno == EINTR || errno == EAGAIN && left > 0 && WaitForRoom(socket, (int)left))
                {
                    continue;
                }
                throw new IOException($"cannot send \"{state.ReplaceLineEndings(" ")}\" to systemd's notify socket {notifySocket}: " +
                    (errno == EAGAIN ? $"its queue stayed full for {FullQueueWaitMilliseconds / 1000} s" : StrError(errno)));
            }
        }
    }

    /// <summary>Waits until the connected peer's queue has room (POLLOUT on a connected datagram socket says so).</summary>
    private static unsafe bool WaitForRoom(Socket socket, int milliseconds)
    {
        var poll = new pollfd { fd = (int)socket.Handle, events = POLLOUT };
        return Interop.Libc.poll(&poll, 1, milliseconds) >= 0 || Marshal.GetLastPInvokeError() == EINTR;
    }
}
