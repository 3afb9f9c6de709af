using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        public const int RLIMIT_MEMLOCK = 8;
        public const ulong RLIM_INFINITY = ulong.MaxValue;

        /// <summary><c>struct rlimit</c> from &lt;sys/resource.h&gt;.</summary>
        internal struct rlimit
        {
            public ulong rlim_cur;
            public ulong rlim_max;
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "setrlimit", SetLastError = true)]
        public static unsafe partial int setrlimit(int resource, rlimit* rlim);
    }
}
