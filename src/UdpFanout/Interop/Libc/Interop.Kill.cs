using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>With signal 0, only asks whether the process exists: ESRCH when it does not.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "kill", SetLastError = true)]
        public static partial int kill(int pid, int sig);
    }
}
