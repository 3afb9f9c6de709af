using UdpFanout.Configuration;

namespace UdpFanout.Balancing;

/// <summary>
/// The hash of a datagram's source that <see cref="BalancePolicy.SourceHash"/> looks up in the Maglev table.
/// bpf/include/fanout_hash.h computes the same in the tc program: a test runs both over the same sources, so
/// every mode and every proxy sends a source to the same downstream.
/// </summary>
internal static class SourceHash
{
    /// <summary>A source as workers pass it: the IPv4 address (host byte order) above the port.</summary>
    public static ulong Key(uint addressHostOrder, ushort port) => (ulong)addressHostOrder << 16 | port;

    /// <summary>The table slot of <paramref name="key"/>; the port is left out for <see cref="HashKey.SourceIp"/>.</summary>
    public static uint Slot(ulong key, HashKey hashKey, uint tableSize) =>
        (uint)(Mix(hashKey == HashKey.SourceIp ? key & ~0xFFFFUL : key) % tableSize);

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
