using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__fd")]
        public static partial int bpf_map__fd(nint map);

        /// <summary>The writable initial contents of a global-data map (.rodata, .data) before load.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__initial_value")]
        public static unsafe partial void* bpf_map__initial_value(nint map, nuint* psize);
    }
}
