using System.Net;
using System.Runtime.InteropServices;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using static Interop.Fanout;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// The loaded tc program of one listener and its maps: what it matches, the downstream set it forwards to, and
/// its counters. Attaching it is <see cref="TcIngressAttachment"/>'s job.
/// </summary>
internal sealed class TcProgram : IDisposable
{
    private readonly BpfObject _object;
    private readonly BpfMap _sets;
    private readonly BpfMap _stats;
    private readonly BpfMap _slotStats;
    private readonly DownstreamSlots _slots = new();
    private readonly Dictionary<Downstream, (long Packets, long Bytes)> _retired = [];
    private readonly Lock _gate = new();
    private readonly BalancePolicy _balance;

    private TcProgram(BpfObject obj, BalancePolicy balance)
    {
        _object = obj;
        _balance = balance;
        _sets = obj.Map(TC_MAP_DOWNSTREAM_SETS);
        _stats = obj.Map(TC_MAP_STATS);
        _slotStats = obj.Map(TC_MAP_SLOT_STATS);
        ProgramFd = obj.ProgramFd(TC_PROGRAM);
    }

    public int ProgramFd { get; }

    /// <summary>Opens and loads the program for datagrams to <paramref name="bind"/> (0.0.0.0 = any IPv4 address, :: = any of both families).</summary>
    public static TcProgram Load(IPEndPoint bind, BalancePolicy balance = BalancePolicy.RoundRobin, HashKey hashKey = HashKey.SourceIp) =>
        new(ListenerObject.Load(TC_OBJECT, bind, balance: BalanceOf(balance, hashKey)), balance);

    /// <summary>The listener's policy as the programs' <c>FANOUT_BALANCE_*</c> and <c>FANOUT_HASH_*</c>.</summary>
    public static (byte Policy, byte HashKey) BalanceOf(BalancePolicy balance, HashKey hashKey) => (
        balance == BalancePolicy.SourceHash ? FANOUT_BALANCE_SOURCE_HASH : FANOUT_BALANCE_ROUND_ROBIN,
        hashKey == HashKey.SourceIpPort ? FANOUT_HASH_SOURCE_IP_PORT : FANOUT_HASH_SOURCE_IP);

    /// <summary>One of the program's maps, for the XDP layer, which shares it before its own load.</summary>
    public int MapFd(string name) => _object.Map(name).Fd;

    /// <summary>
    /// Swaps the sets (one per family, each with its policy's table: the Maglev table, or the weighted round-robin
    /// order) as a new inner map: the kernel waits for running programs before the outer-map update returns, so no
    /// datagram goes to a removed downstream afterwards and its counter slot can be reused, and both families and
    /// their tables change together. The tc program's XDP layer reads this very map, and the wait covers it too: an
    /// XDP program runs, and hands a redirected frame to its egress, inside one RCU read-side section of its NAPI poll.
    /// </summary>
    public unsafe void Publish(DownstreamSet set)
    {
        lock (_gate)
        {
            var values = (fanout_downstream_set*)NativeMemory.AllocZeroed(FANOUT_FAMILY_COUNT, (nuint)sizeof(fanout_downstream_set));
            List<(Downstream Downstream, ushort Slot)> removed;
            try
            {
                removed = _balance == BalancePolicy.SourceHash
                    ? _slots.Assign(set, values, members => MaglevTable.Build(members))
                    : _slots.Assign(set, values, members => RoundRobinPolicy.Order(members.Select(d => d.Weight).ToArray()), isOrder: true);
                Swap(values);
            }
            finally
            {
                NativeMemory.Free(values);
            }
            foreach (var (downstream, slot) in removed)
            {
                Add(_retired, downstream, Sum(_slotStats.LookupPerCpu<fanout_counter>(slot)));
                _slotStats.UpdatePerCpu(slot, new fanout_counter());
                _slots.Release(slot);
            }
        }
    }

    /// <summary>Fills a new inner map with <paramref name="values"/> (one set per family) and puts it in the outer map's slot.</summary>
    private unsafe void Swap(fanout_downstream_set* values)
    {
        var inner = Interop.Libbpf.bpf_map_create(Interop.Libbpf.BPF_MAP_TYPE_ARRAY, "fanout_set", sizeof(uint), (uint)sizeof(fanout_downstream_set), FANOUT_FAMILY_COUNT, 0);
        if (inner < 0)
        {
            throw BpfException.For("cannot create a downstream set map", Marshal.GetLastPInvokeError());
        }
        try
        {
            for (var family = 0u; family < FANOUT_FAMILY_COUNT; family++)
            {
                if (Interop.Libbpf.bpf_map_update_elem(inner, &family, values + family, Interop.Libbpf.BPF_ANY) != 0)
                {
                    throw BpfException.For("cannot fill the downstream set map", Marshal.GetLastPInvokeError());
                }
            }
            _sets.Update(0, inner);
        }
        finally
        {
            Interop.Libc.close(inner);
        }
    }

    /// <summary>
    /// Sets the route cache's epoch for <paramref name="family"/> (FANOUT_FAMILY_*): a cached route of another epoch
    /// is looked up again; 0 has every datagram of the family looked up (<see cref="RouteCacheEpochs"/> says when).
    /// </summary>
    public void SetRouteEpoch(uint family, ulong epoch) => _object.Map(TC_MAP_ROUTE_EPOCHS).Update(family, epoch);

    /// <summary>The route cache's entries for <paramref name="downstream"/> of the active set, one per CPU; for tests.</summary>
    public fanout_route[] CachedRoutes(Downstream downstream)
    {
        lock (_gate)
        {
            return _object.Map(TC_MAP_ROUTE_CACHE).LookupPerCpu<fanout_route>(_slots.Active[downstream]);
        }
    }

    /// <summary>Puts <paramref name="route"/> in every CPU's route cache entry for <paramref name="downstream"/>; for tests.</summary>
    public void CacheRoute(Downstream downstream, fanout_route route)
    {
        lock (_gate)
        {
            _object.Map(TC_MAP_ROUTE_CACHE).UpdatePerCpu(_slots.Active[downstream], route);
        }
    }

    /// <summary>The program's per-verdict counters, summed over CPUs.</summary>
    public (long Packets, long Bytes) Read(fanout_tc_stat stat) => Sum(_stats.LookupPerCpu<fanout_counter>((uint)stat));

    /// <summary>What each downstream was sent in the kernel, those that left the set included.</summary>
    public Dictionary<Downstream, (long Packets, long Bytes)> DownstreamTotals()
    {
        lock (_gate)
        {
            var totals = new Dictionary<Downstream, (long Packets, long Bytes)>(_retired);
            foreach (var (downstream, slot) in _slots.Active)
            {
                Add(totals, downstream, Sum(_slotStats.LookupPerCpu<fanout_counter>(slot)));
            }
            return totals;
        }
    }

    /// <summary>Drops the final counts of <paramref name="gone"/>, except of a downstream back in the set.</summary>
    public void Forget(IEnumerable<Downstream> gone)
    {
        lock (_gate)
        {
            foreach (var downstream in gone.Where(d => !_slots.Active.ContainsKey(d)))
            {
                _retired.Remove(downstream);
            }
        }
    }

    public void Dispose() => _object.Dispose();

    private static void Add(Dictionary<Downstream, (long Packets, long Bytes)> totals, Downstream downstream, (long Packets, long Bytes) more) =>
        totals[downstream] = totals.TryGetValue(downstream, out var t) ? (t.Packets + more.Packets, t.Bytes + more.Bytes) : more;

    private static (long Packets, long Bytes) Sum(fanout_counter[] perCpu) =>
        ((long)perCpu.Aggregate(0UL, (a, c) => a + c.packets), (long)perCpu.Aggregate(0UL, (a, c) => a + c.bytes));
}
