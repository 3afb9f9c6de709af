using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>0 when the interface does not exist in the calling thread's network namespace.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial uint if_nametoindex(string ifname);
    }
}
