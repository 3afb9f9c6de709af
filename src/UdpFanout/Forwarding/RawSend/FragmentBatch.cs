using System.Runtime.InteropServices;
using UdpFanout.Configuration;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding.RawSend;

/// <summary>
/// The fragments of one datagram larger than its route's MTU (<see cref="Ipv4Fragments"/>), sent with one sendmmsg.
/// Its native arrays are sized for the largest datagram at the smallest MTU seen so far and grow only when a
/// smaller MTU needs more fragments, never per datagram. One sender thread owns it.
/// </summary>
internal sealed unsafe class FragmentBatch : IDisposable
{
    // Room for each fragment's IP header and, in the first, the UDP header, rounded up to keep them aligned.
    private const int HeaderSlot = 32;

    private int _capacity;
    private mmsghdr* _hdr;
    private iovec* _iov;
    private byte* _headers;
    private readonly sockaddr_in* _destination = (sockaddr_in*)NativeMemory.AllocZeroed(1, (nuint)sizeof(sockaddr_in));

    public FragmentBatch() => Grow(Ipv4Fragments.Count(ListenerConfig.MaxUdpPayload, 1500));

    /// <summary>
    /// Cuts the datagram into fragments at <paramref name="mtu"/> and sends them all; true when every fragment went.
    /// A datagram missing a fragment never reaches the receiver, so it counts as dropped, with the reason in
    /// <paramref name="failure"/>.
    /// </summary>
    public bool TrySend(int fd, byte* payload, int length, uint source, ushort sourcePort, in sockaddr_in destination, ushort id, int mtu, out DropReason failure)
    {
        var count = Ipv4Fragments.Count(length, mtu);
        if (count > _capacity)
        {
            Grow(count);
        }
        *_destination = destination;
        Span<byte> udp = stackalloc byte[Ipv4UdpHeaders.UdpLength];
        Ipv4UdpHeaders.WriteUdp(udp, source, sourcePort, destination.sin_addr, destination.sin_port, new ReadOnlySpan<byte>(payload, length));
        for (var i = 0; i < count; i++)
        {
            var header = _headers + i * HeaderSlot;
            var (headerLength, start, payloadLength) = Ipv4Fragments.Write(
                new Span<byte>(header, HeaderSlot), i, length, mtu, source, destination.sin_addr, id, udp);
            _iov[2 * i] = new iovec { iov_base = header, iov_len = (nuint)headerLength };
            _iov[2 * i + 1] = new iovec { iov_base = payload + start, iov_len = (nuint)payloadLength };
            ref var h = ref _hdr[i].msg_hdr;
            h.msg_name = _destination;
            h.msg_namelen = (uint)sizeof(sockaddr_in);
            h.msg_iov = _iov + 2 * i;
            h.msg_iovlen = 2;
        }
        var offset = 0;
        while (offset < count)
        {
            var sent = sendmmsg(fd, _hdr + offset, (uint)(count - offset), MSG_DONTWAIT);
            if (sent > 0)
            {
                offset += sent;
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
            {
                continue;
            }
            failure = errno is EAGAIN or ENOBUFS ? DropReason.SendBufferFull : DropReason.SendError;
            return false;
        }
        failure = default;
        return true;
    }

    private DisposeOnce _disposed;

    public void Dispose()
    {
        if (!_disposed.First())
        {
            return;
        }
        NativeMemory.Free(_hdr);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        NativeMemory.Free(_destination);
    }

    private void Grow(int count)
    {
        NativeMemory.Free(_hdr);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_headers);
        _capacity = count;
        _hdr = (mmsghdr*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(mmsghdr));
        _iov = (iovec*)NativeMemory.AllocZeroed((nuint)count * 2, (nuint)sizeof(iovec));
        _headers = (byte*)NativeMemory.AllocZeroed((nuint)count, HeaderSlot);
    }
}
