using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>pid 0 is the calling thread.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
        public static unsafe partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);
    }
}
