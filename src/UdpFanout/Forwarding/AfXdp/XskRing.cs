using static Interop.Libc;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// One of an AF_XDP socket's single-producer single-consumer rings, mapped from the kernel. The index the other
/// side owns is read with acquire semantics, the one this side owns is published with release semantics, so a
/// descriptor is never read before the kernel wrote it nor handed back before this side is done with it.
/// </summary>
internal sealed unsafe class XskRing : IDisposable
{
    private readonly nint _map;
    private readonly nuint _mapLength;
    private readonly uint* _producer;
    private readonly uint* _consumer;
    private readonly uint* _flags;
    private readonly uint _mask;
    private uint _local;

    public XskRing(int fd, long pageOffset, Interop.Xdp.xdp_ring_offset offsets, uint size, int descriptorSize, bool producerSide)
    {
        _mapLength = (nuint)(offsets.desc + (ulong)(size * descriptorSize));
        _map = mmap(0, _mapLength, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pageOffset);
        if (_map == MAP_FAILED)
        {
            throw new ForwarderException($"cannot map an AF_XDP ring: {StrError(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        }
        _producer = (uint*)(_map + (nint)offsets.producer);
        _consumer = (uint*)(_map + (nint)offsets.consumer);
        _flags = (uint*)(_map + (nint)offsets.flags);
        Descriptors = (void*)(_map + (nint)offsets.desc);
        _mask = size - 1;
        Size = size;
        _local = producerSide ? *_producer : *_consumer;
    }

    public void* Descriptors { get; }

    public uint Size { get; }

    /// <summary>The kernel waits for a syscall before it looks at this ring again (need_wakeup).</summary>
    public bool NeedsWakeup => (Volatile.Read(ref *_flags) & Interop.Xdp.XDP_RING_NEED_WAKEUP) != 0;

    public uint Slot(uint index) => index & _mask;

    /// <summary>The published indexes of both sides, as they stand: what a ring taken over from another process holds.</summary>
    public uint Producer => Volatile.Read(ref *_producer);

    public uint Consumer => Volatile.Read(ref *_consumer);

    // Consumer side (RX, completion): what the kernel produced and this side has not yet consumed.
    public uint Available(out uint first)
    {
        first = _local;
        return Volatile.Read(ref *_producer) - _local;
    }

    public void Consume(uint count)
    {
        _local += count;
        Volatile.Write(ref *_consumer, _local);
    }

    // Producer side (fill): room left, then publish what was written.
    public uint Free => Size - (_local - Volatile.Read(ref *_consumer));

    public uint Reserve() => _local++;

    public void Submit() => Volatile.Write(ref *_producer, _local);

    public void Dispose() => munmap(_map, _mapLength);
}
