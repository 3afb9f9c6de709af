using System.Buffers.Binary;
using System.Net.Sockets;
using UdpFanout.Balancing;
using UdpFanout.Model;
using static Interop.Fanout;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// Gives each downstream a counter slot in the program's slot_stats map for as long as it stays in the set, so
/// per-downstream counters survive set changes that move downstreams to other positions. There are twice as many
/// slots as a set holds: the slots of downstreams that leave stay in use until the new set is swapped in, so
/// replacing a full set by a full set of new downstreams needs both sets' worth at once.
/// </summary>
internal sealed class DownstreamSlots
{
    private readonly Dictionary<Downstream, ushort> _active = [];
    private readonly Stack<ushort> _free = new(Enumerable.Range(0, FANOUT_MAX_SLOTS).Reverse().Select(i => (ushort)i));

    public IReadOnlyDictionary<Downstream, ushort> Active => _active;

    /// <summary>
    /// Builds the inner map's values for <paramref name="next"/> into <paramref name="sets"/>, one zeroed set per
    /// family (indexed FANOUT_FAMILY_*; native memory, as .NET has no arrays of structs this large), giving new
    /// downstreams free slots. Returns the slots of downstreams that left; the caller frees them with
    /// <see cref="Release"/> once no program can use them.
    /// </summary>
    /// <param name="buildTable">
    /// Member indexes for one family's table, from that family's members: the Maglev table (slot to member) for
    /// balance: source_hash, or one cycle of the weighted order for round_robin, whose length goes into order_len.
    /// </param>
    /// <param name="isOrder">Whether <paramref name="buildTable"/> builds the weighted order rather than a Maglev table.</param>
    public unsafe List<(Downstream Downstream, ushort Slot)> Assign(DownstreamSet next, fanout_downstream_set* sets, Func<IReadOnlyList<Downstream>, int[]>? buildTable = null, bool isOrder = false)
    {
        if (next.Members.Count > FANOUT_MAX_DOWNSTREAMS)
        {
            throw new ForwarderException($"tc_ebpf supports at most {FANOUT_MAX_DOWNSTREAMS} downstreams per listener, got {next.Members.Count}");
        }
        var removed = _active.Where(a => !next.Members.Contains(a.Key)).Select(a => (a.Key, a.Value)).ToList();
        foreach (var (downstream, _) in removed)
        {
            _active.Remove(downstream);
        }
        var byFamily = new[] { next.Members.Where(d => !IsIpv6(d)).ToArray(), next.Members.Where(IsIpv6).ToArray() };
        for (var family = 0; family < FANOUT_FAMILY_COUNT; family++)
        {
            var members = byFamily[family];
            sets[family].count = (uint)members.Length;
            sets[family].flags = members.Length > 0 ? 0
                : byFamily[1 - family].Length > 0 ? FANOUT_SET_OTHER_FAMILY
                : next.ReasonWhenEmpty == DropReason.NoHealthyDownstream ? FANOUT_SET_ALL_UNHEALTHY : 0;
            for (var i = 0; i < members.Length; i++)
            {
                sets[family].downstreams[i] = Entry(members[i], SlotOf(members[i]));
            }
            if (buildTable is not null && members.Length > 0)
            {
                var table = buildTable(members);
                sets[family].order_len = isOrder ? (uint)table.Length : 0;
                for (var slot = 0; slot < table.Length; slot++)
                {
                    sets[family].table[slot] = (byte)table[slot];
                }
            }
        }
        return removed;
    }

    /// <summary>Whether a downstream goes in the IPv6 set; an IPv4-mapped IPv6 address goes in the IPv4 one (the program forwards it as such).</summary>
    private static bool IsIpv6(Downstream downstream) =>
        downstream.Endpoint.AddressFamily == AddressFamily.InterNetworkV6 && !downstream.Endpoint.Address.IsIPv4MappedToIPv6;

    private ushort SlotOf(Downstream downstream)
    {
        if (!_active.TryGetValue(downstream, out var slot))
        {
            slot = _free.Pop();
            _active[downstream] = slot;
        }
        return slot;
    }

    private static unsafe fanout_downstream Entry(Downstream downstream, ushort slot)
    {
        var address = downstream.Endpoint.Address.IsIPv4MappedToIPv6 ? downstream.Endpoint.Address.MapToIPv4() : downstream.Endpoint.Address;
        var entry = new fanout_downstream
        {
            port = BinaryPrimitives.ReverseEndianness((ushort)downstream.Endpoint.Port),
            slot = slot,
        };
        address.TryWriteBytes(new Span<byte>(entry.addr, 16), out _);
        return entry;
    }

    public void Release(ushort slot) => _free.Push(slot);
}
