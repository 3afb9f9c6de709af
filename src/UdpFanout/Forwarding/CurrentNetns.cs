namespace UdpFanout.Forwarding;

/// <summary>The calling thread's network namespace, which interface indexes belong to.</summary>
internal static class CurrentNetns
{
    /// <summary>e.g. "net:[4026531840]".</summary>
    public static string Name() => new FileInfo("/proc/thread-self/ns/net").LinkTarget ?? "";
}
