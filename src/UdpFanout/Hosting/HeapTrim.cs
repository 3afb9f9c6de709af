using System.Runtime;

namespace UdpFanout.Hosting;

/// <summary>
/// Gives the memory of a config change back to the system. Reading and applying a config of 10,000 downstreams
/// leaves tens of megabytes of garbage (the YAML tree, the old sets, the old config), and the garbage collector
/// would keep that room as part of its heap for good: resident memory would be set by the largest reload ever,
/// not by what runs. A config change is rare, so it pays for one full compacting collection that decommits what
/// is free, a few milliseconds per hundred megabytes of heap.
/// </summary>
internal static class HeapTrim
{
    public static void AfterConfigChange()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
