using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static Interop.Libc;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// An IPv6 UDP receiver that reads each datagram's hop limit as it arrived (IPV6_RECVHOPLIMIT), with its
/// <see cref="NumberedPayload"/> sequence number: what a router in between did to the hop limit shows here.
/// </summary>
internal sealed partial class HopLimitReceiver : IDisposable
{
    private const int IPPROTO_IPV6 = 41;
    private const int IPV6_RECVHOPLIMIT = 51;
    private const int IPV6_HOPLIMIT = 52;

    private readonly Socket _socket = new(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);

    public HopLimitReceiver(int port)
    {
        _socket.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        _socket.SetRawSocketOption(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, BitConverter.GetBytes(1));
    }

    /// <summary>The next <paramref name="count"/> datagrams' sequence numbers and hop limits; fails after 5 s without one.</summary>
    public unsafe List<(long Sequence, int HopLimit)> Receive(int count)
    {
        _socket.ReceiveTimeout = 5000;
        var received = new List<(long, int)>();
        var data = new byte[65536];
        var control = stackalloc byte[64];
        fixed (byte* buffer = data)
        {
            while (received.Count < count)
            {
                var iov = new iovec { iov_base = buffer, iov_len = (nuint)data.Length };
                var message = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = 64 };
                var length = recvmsg((int)_socket.Handle, &message, 0);
                Assert.True(length >= 0, $"no datagram {received.Count + 1} of {count} within 5 s (errno {Marshal.GetLastPInvokeError()})");
                var header = (cmsghdr*)control;
                Assert.True(message.msg_controllen >= (nuint)sizeof(cmsghdr) && header->cmsg_level == IPPROTO_IPV6 && header->cmsg_type == IPV6_HOPLIMIT,
                    "the datagram came without its hop limit");
                Assert.True(NumberedPayload.TryRead(data.AsSpan(0, (int)length), out var sequence), "a datagram that is not a numbered payload");
                received.Add((sequence, *(int*)(control + sizeof(cmsghdr))));
            }
        }
        return received;
    }

    public void Dispose() => _socket.Dispose();

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recvmsg(int fd, msghdr* msg, int flags);
}
