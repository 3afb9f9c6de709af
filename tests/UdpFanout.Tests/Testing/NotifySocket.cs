using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using static Interop.Libc;

namespace UdpFanout.Tests.Testing;

/// <summary>Plays systemd's side of sd_notify: a datagram socket whose path goes into NOTIFY_SOCKET.</summary>
internal sealed partial class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public NotifySocket()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"notify-{Guid.NewGuid():N}.sock");
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    public string Path { get; }

    /// <summary>Waits for a message containing <paramref name="state"/> (e.g. "READY=1") and returns it.</summary>
    public string WaitFor(string state, double timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        var buffer = new byte[4096];
        while (DateTime.UtcNow < deadline)
        {
            _socket.ReceiveTimeout = (int)Math.Max(1, (deadline - DateTime.UtcNow).TotalMilliseconds);
            try
            {
                var message = Encoding.UTF8.GetString(buffer, 0, _socket.Receive(buffer));
                if (message.Split('\n').Contains(state))
                {
                    return message;
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
            {
                break;
            }
        }
        throw new TimeoutException($"no {state} on the notify socket within {timeoutSeconds} s");
    }

    /// <summary>
    /// The next message and the descriptor passed with it (FDSTORE=1 sends one as SCM_RIGHTS), or null when none
    /// came within <paramref name="timeoutSeconds"/>. Until the caller disposes it, the descriptor keeps what it
    /// names open (a BPF link stays attached), as systemd's store would.
    /// </summary>
    public unsafe (string Text, SafeFileHandle? Passed)? Next(double timeoutSeconds = 5)
    {
        _socket.ReceiveTimeout = (int)(timeoutSeconds * 1000);
        var text = new byte[4096];
        var control = stackalloc byte[64];
        fixed (byte* data = text)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)text.Length };
            var message = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = 64 };
            var length = recvmsg((int)_socket.Handle, &message, 0);
            if (length < 0)
            {
                return null;
            }
            SafeFileHandle? passed = null;
            if (message.msg_controllen >= (nuint)sizeof(cmsghdr))
            {
                var header = (cmsghdr*)control;
                Assert.Equal((SOL_SOCKET, SCM_RIGHTS), (header->cmsg_level, header->cmsg_type));
                passed = new SafeFileHandle(*(int*)(control + sizeof(cmsghdr)), ownsHandle: true);
            }
            return (Encoding.UTF8.GetString(text, 0, (int)length), passed);
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        File.Delete(Path);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recvmsg(int fd, msghdr* msg, int flags);
}
