using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static Interop.Libc;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// UDP echo for thousands of downstreams with one socket: bound to 0.0.0.0 on one port, it takes probes sent to any
/// address of 127.0.0.0/8 and answers each from the address it was sent to (IP_PKTINFO), in batches. How it answers
/// each address is <see cref="Behaviour"/>'s choice, which the test may change at any time, so it also plays the
/// spoofer: the right token from another address or another port, or a wrong token from the right address.
/// </summary>
internal sealed unsafe class ManyAddressEcho : IDisposable
{
    private const int Batch = 64;
    private const int Slot = 64;
    private const int IP_PKTINFO = 8;
    // CMSG_SPACE(sizeof(struct in_pktinfo)): a 16-byte cmsghdr and 12 bytes of data, aligned to 8.
    private const int ControlSlot = 32;

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _otherPort = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Thread _thread;
    private volatile bool _stopping;

    public ManyAddressEcho()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
        _socket.ReceiveBufferSize = 4 << 20;
        _socket.ReceiveTimeout = 100;
        _otherPort.Bind(new IPEndPoint(IPAddress.Any, 0));
        _thread = new Thread(Run) { IsBackground = true, Name = "many-address-echo" };
        _thread.Start();
    }

    public enum Answer
    {
        Echo,
        Silent,
        TokenFromOtherAddress,
        TokenFromOtherPort,
        WrongTokenFromRightAddress,
    }

    public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    /// <summary>How to answer a probe sent to an address; read for every probe.</summary>
    public volatile Func<IPAddress, Answer> Behaviour = _ => Answer.Echo;

    public void Dispose()
    {
        _stopping = true;
        _thread.Join();
        _socket.Dispose();
        _otherPort.Dispose();
    }

    private void Run()
    {
        var fd = (int)_socket.Handle;
        var receive = (mmsghdr*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(mmsghdr));
        var send = (mmsghdr*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(mmsghdr));
        var iov = (iovec*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(iovec));
        var from = (sockaddr_in*)NativeMemory.AllocZeroed(Batch, (nuint)sizeof(sockaddr_in));
        var bytes = (byte*)NativeMemory.AllocZeroed(Batch, Slot);
        var control = (byte*)NativeMemory.AllocZeroed(Batch, ControlSlot);
        try
        {
            while (!_stopping)
            {
                for (var i = 0; i < Batch; i++)
                {
                    iov[i] = new iovec { iov_base = bytes + i * Slot, iov_len = Slot };
                    receive[i].msg_hdr = new msghdr
                    {
                        msg_name = from + i, msg_namelen = (uint)sizeof(sockaddr_in), msg_iov = iov + i, msg_iovlen = 1,
                        msg_control = control + i * ControlSlot, msg_controllen = ControlSlot,
                    };
                }
                // SO_RCVTIMEO bounds the wait, so the loop sees _stopping.
                var read = recvmmsg(fd, receive, Batch, MSG_WAITFORONE, null);
                var replies = 0;
                for (var i = 0; i < read; i++)
                {
                    var pktinfo = (uint*)(control + i * ControlSlot + 16);
                    // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }: the header's destination.
                    var probed = pktinfo[2];
                    if (receive[i].msg_len != 16)
                    {
                        continue;
                    }
                    var answer = Behaviour(new IPAddress(probed));
                    if (answer == Answer.Silent)
                    {
                        continue;
                    }
                    var replyFd = fd;
                    pktinfo[0] = 0;
                    pktinfo[1] = probed;
                    switch (answer)
                    {
                        case Answer.TokenFromOtherAddress:
                            pktinfo[1] = BitConverter.ToUInt32(IPAddress.Parse("127.254.254.254").GetAddressBytes());
                            break;
                        case Answer.TokenFromOtherPort:
                            replyFd = (int)_otherPort.Handle;
                            break;
                        case Answer.WrongTokenFromRightAddress:
                            bytes[i * Slot] ^= 0xff;
                            break;
                    }
                    iov[i].iov_len = 16;
                    var reply = new msghdr
                    {
                        msg_name = from + i, msg_namelen = (uint)sizeof(sockaddr_in), msg_iov = iov + i, msg_iovlen = 1,
                        msg_control = control + i * ControlSlot, msg_controllen = ControlSlot,
                    };
                    if (replyFd == fd)
                    {
                        send[replies++].msg_hdr = reply;
                    }
                    else
                    {
                        var single = new mmsghdr { msg_hdr = reply };
                        sendmmsg(replyFd, &single, 1, 0);
                    }
                }
                if (replies > 0)
                {
                    sendmmsg(fd, send, (uint)replies, 0);
                }
            }
        }
        finally
        {
            NativeMemory.Free(receive);
            NativeMemory.Free(send);
            NativeMemory.Free(iov);
            NativeMemory.Free(from);
            NativeMemory.Free(bytes);
            NativeMemory.Free(control);
        }
    }
}
