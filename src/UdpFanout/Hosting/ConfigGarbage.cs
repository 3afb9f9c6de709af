namespace UdpFanout.Hosting;

/// <summary>
/// Gives back the memory that loading and applying a config took for a moment. The YAML tree of a 10,000-downstream
/// file and the sets built from it are tens of megabytes, all garbage once the listeners run; the GC would keep
/// those pages resident for its next allocations, and the steady daemon allocates too little to ever need them:
/// they were most of its resident memory at scale (about 4 KB per downstream, against about 1 KB that stays live).
/// One full collection that also returns free memory to the kernel once a config was read: at start and after each
/// reload (applied or refused), never on the data path's or the health checks' schedule.
/// </summary>
internal static class ConfigGarbage
{
    public static void Release() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
}
