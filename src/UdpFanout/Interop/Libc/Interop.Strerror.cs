using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "strerror")]
        private static partial nint strerror_native(int errnum);

        /// <summary>"Operation not permitted (EPERM 1)"-style text for an errno.</summary>
        public static string StrError(int errno) => $"{Marshal.PtrToStringUTF8(strerror_native(errno))} (errno {errno})";
    }
}
