using System.Buffers.Binary;
using System.Net;
using UdpFanout.Configuration;

namespace UdpFanout.Balancing;

/// <summary>
/// The hash of a datagram's source that <see cref="BalancePolicy.SourceHash"/> looks up in the Maglev table.
/// bpf/include/fanout_hash.h computes the same in the BPF programs: a test runs both over the same sources, so
/// every mode and every proxy sends a source to the same downstream. A key is read where the source is (a worker's
/// sockaddr, a frame's header), with the listener's <see cref="HashKey"/> already applied, so the policy needs
/// neither the address family nor the hash key: its slot is <c>Mix(key) % tableSize</c>.
/// </summary>
internal static class SourceHash
{
    /// <summary>An IPv4 source: the address (host byte order) above the port, the port left out for <see cref="HashKey.SourceIp"/>.</summary>
    public static ulong Key(uint addressHostOrder, ushort port, HashKey hashKey) =>
        (ulong)addressHostOrder << 16 | (hashKey == HashKey.SourceIpPort ? port : 0u);

    /// <summary>
    /// An IPv6 source, <paramref name="address"/> being its 16 bytes in network order: with the address read as
    /// four big-endian words w0..w3, a = w0:w1 and b = w2:w3, the key is <c>a ^ Mix(b ^ Mix(port))</c>, the port 0 for
    /// <see cref="HashKey.SourceIp"/>. The inner Mix keeps a source's two halves from cancelling each other out
    /// (a plain a ^ b would map fd00::1 and ::fd00:0:0:0:1 to one slot), and the port's Mix keeps the address's low
    /// bits and the port from cancelling (b ^ port maps fd00::1 port 40001 and fd00::2 port 40002 to one key).
    /// </summary>
    public static ulong Key(ReadOnlySpan<byte> address, ushort port, HashKey hashKey)
    {
        var a = BinaryPrimitives.ReadUInt64BigEndian(address);
        var b = BinaryPrimitives.ReadUInt64BigEndian(address[8..16]);
        return a ^ Mix(b ^ Mix(hashKey == HashKey.SourceIpPort ? port : 0u));
    }

    /// <summary>A source of either family, for callers that hold an endpoint (tests, tools) rather than a sockaddr or a frame.</summary>
    public static ulong Key(IPEndPoint source, HashKey hashKey)
    {
        Span<byte> address = stackalloc byte[16];
        source.Address.TryWriteBytes(address, out var length);
        return length == 4
            ? Key(BinaryPrimitives.ReadUInt32BigEndian(address), (ushort)source.Port, hashKey)
            : Key(address, (ushort)source.Port, hashKey);
    }

    /// <summary>The table slot of <paramref name="key"/>.</summary>
    public static uint Slot(ulong key, uint tableSize) => (uint)(Mix(key) % tableSize);

    /// <summary>MurmurHash3's 64-bit finalizer: every input bit moves every output bit, cheap in C# and BPF alike.</summary>
    public static ulong Mix(ulong k)
    {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdUL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53UL;
        k ^= k >> 33;
        return k;
    }
}
