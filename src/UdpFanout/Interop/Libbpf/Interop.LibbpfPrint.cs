using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        public const int LIBBPF_WARN = 0;
        public const int LIBBPF_INFO = 1;
        public const int LIBBPF_DEBUG = 2;

        /// <summary>
        /// Installs the function libbpf prints through: <c>int fn(enum libbpf_print_level, const char *fmt, va_list)</c>.
        /// Returns the previous one.
        /// </summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "libbpf_set_print")]
        public static unsafe partial nint libbpf_set_print(delegate* unmanaged<int, byte*, nint, int> fn);
    }

    internal static partial class Libc
    {
        /// <summary>Formats a va_list; on x86-64 a va_list argument travels as a pointer, which is how it is passed on.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "vsnprintf")]
        public static unsafe partial int vsnprintf(byte* str, nuint size, byte* format, nint args);
    }
}
