using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>memfd_create(2) from &lt;sys/mman.h&gt;: an anonymous file in memory, alive while a descriptor of it is.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int memfd_create(string name, uint flags);

        public const uint MFD_CLOEXEC = 0x0001;
    }
}
