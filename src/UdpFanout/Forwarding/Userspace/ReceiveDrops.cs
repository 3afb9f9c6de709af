using System.Net.Sockets;
using static Interop.Libc;

namespace UdpFanout.Forwarding.Userspace;

/// <summary>
/// The datagrams the kernel dropped at one listening socket before a worker could read them: the socket's drop
/// counter (sk_drops, read with SO_MEMINFO), which counts a full receive buffer and, rarely, a bad UDP checksum.
/// Read at scrape time, never on the data path. The kernel's counter is 32 bits wide, so this keeps a 64-bit
/// sum of the differences between reads, exact as long as reads come less than 2^32 drops apart.
/// </summary>
internal sealed unsafe class ReceiveDrops(Socket socket)
{
    private readonly int _fd = (int)socket.Handle;
    private readonly Lock _gate = new();
    private uint _last;
    private long _total;
    private bool _closed;

    public long Read()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                Sample();
            }
            return _total;
        }
    }

    /// <summary>Takes the last reading; call before the socket closes, since the counter goes with it.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                Sample();
                _closed = true;
            }
        }
    }

    private void Sample()
    {
        var meminfo = stackalloc uint[SK_MEMINFO_VARS];
        var length = (uint)(SK_MEMINFO_VARS * sizeof(uint));
        if (getsockopt(_fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) == 0 && length > SK_MEMINFO_DROPS * sizeof(uint))
        {
            var drops = meminfo[SK_MEMINFO_DROPS];
            _total += unchecked(drops - _last);
            _last = drops;
        }
    }
}
