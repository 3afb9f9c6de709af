using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>getrandom(2) from &lt;sys/random.h&gt;: the kernel's CSPRNG, no file descriptor needed.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "getrandom", SetLastError = true)]
        public static unsafe partial nint getrandom(void* buf, nuint buflen, uint flags);
    }
}
