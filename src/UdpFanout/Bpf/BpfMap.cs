using System.Runtime.InteropServices;
using static Interop.Libbpf;

namespace UdpFanout.Bpf;

/// <summary>A map of a loaded <see cref="BpfObject"/>; valid as long as the object is open.</summary>
internal sealed class BpfMap(nint handle, string name)
{
    public nint Handle { get; } = handle;

    public string Name { get; } = name;

    public int Fd => bpf_map__fd(Handle);

    /// <summary>
    /// What the kernel says the map behind <paramref name="fd"/> is (its type and id among others): 0, or the errno
    /// when <paramref name="fd"/> is no BPF map. For maps outside a loaded object (pinned, kept in the fd store).
    /// </summary>
    public static unsafe int ReadInfo(int fd, out bpf_map_info info)
    {
        var length = (uint)sizeof(bpf_map_info);
        fixed (bpf_map_info* pointer = &info)
        {
            *pointer = default;
            return -bpf_obj_get_info_by_fd(fd, pointer, &length);
        }
    }

    /// <summary>Sizes the map to <paramref name="maxEntries"/>; only before the object is loaded.</summary>
    public void SetMaxEntries(uint maxEntries)
    {
        var result = bpf_map__set_max_entries(Handle, maxEntries);
        if (result != 0)
        {
            throw BpfException.For($"cannot size map {Name} to {maxEntries} entries", -result);
        }
    }

    public unsafe void Update<TValue>(uint key, in TValue value) where TValue : unmanaged
    {
        fixed (TValue* v = &value)
        {
            if (bpf_map_update_elem(Fd, &key, v, BPF_ANY) != 0)
            {
                throw BpfException.For($"cannot update map {Name}[{key}]", Marshal.GetLastPInvokeError());
            }
        }
    }

    /// <summary>Deletes one key; false when it failed (a stop path that must go on, or a key already gone).</summary>
    public unsafe bool TryDelete(uint key) => bpf_map_delete_elem(Fd, &key) == 0;

    /// <summary>The values of every CPU for one key of a per-CPU map.</summary>
    public unsafe TValue[] LookupPerCpu<TValue>(uint key) where TValue : unmanaged
    {
        // The kernel lays per-CPU values out at 8-byte strides, one per possible CPU.
        var stride = (sizeof(TValue) + 7) & ~7;
        var cpus = PossibleCpus.Count;
        var buffer = new byte[stride * cpus];
        fixed (byte* b = buffer)
        {
            if (bpf_map_lookup_elem(Fd, &key, b) != 0)
            {
                throw BpfException.For($"cannot read map {Name}[{key}]", Marshal.GetLastPInvokeError());
            }
            var values = new TValue[cpus];
            for (var cpu = 0; cpu < cpus; cpu++)
            {
                values[cpu] = *(TValue*)(b + cpu * stride);
            }
            return values;
        }
    }

    /// <summary>Writes the same value for every CPU of one key of a per-CPU map.</summary>
    public unsafe void UpdatePerCpu<TValue>(uint key, TValue value) where TValue : unmanaged
    {
        var stride = (sizeof(TValue) + 7) & ~7;
        var buffer = new byte[stride * PossibleCpus.Count];
        fixed (byte* b = buffer)
        {
            for (var cpu = 0; cpu < PossibleCpus.Count; cpu++)
            {
                *(TValue*)(b + cpu * stride) = value;
            }
            if (bpf_map_update_elem(Fd, &key, b, BPF_ANY) != 0)
            {
                throw BpfException.For($"cannot update map {Name}[{key}]", Marshal.GetLastPInvokeError());
            }
        }
    }
}
