using System.Buffers.Binary;
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
    /// Builds the map value for <paramref name="next"/>, giving new downstreams free slots. Returns the slots of
    /// downstreams that left; the caller frees them with <see cref="Release"/> once no program can use them.
    /// </summary>
    /// <param name="table">
    /// Member indexes for the set's table: the Maglev table (slot to member) for balance: source_hash, or one cycle
    /// of the weighted order for round_robin, whose length goes into order_len.
    /// </param>
    public (fanout_downstream_set Set, List<(Downstream Downstream, ushort Slot)> Removed) Assign(DownstreamSet next, int[]? table = null, bool isOrder = false)
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
        var set = new fanout_downstream_set
        {
            count = (uint)next.Members.Count,
            flags = next.ReasonWhenEmpty == DropReason.NoHealthyDownstream ? FANOUT_SET_ALL_UNHEALTHY : 0,
        };
        for (var i = 0; i < next.Members.Count; i++)
        {
            var downstream = next.Members[i];
            if (!_active.TryGetValue(downstream, out var slot))
            {
                slot = _free.Pop();
                _active[downstream] = slot;
            }
            set.downstreams[i] = new fanout_downstream
            {
                addr = BitConverter.ToUInt32(downstream.Endpoint.Address.GetAddressBytes()),
                port = BinaryPrimitives.ReverseEndianness((ushort)downstream.Endpoint.Port),
                slot = slot,
            };
        }
        if (table is not null)
        {
            set.order_len = isOrder ? (uint)table.Length : 0;
            for (var slot = 0; slot < table.Length; slot++)
            {
                set.table[slot] = (byte)table[slot];
            }
        }
        return (set, removed);
    }

    public void Release(ushort slot) => _free.Push(slot);
}
