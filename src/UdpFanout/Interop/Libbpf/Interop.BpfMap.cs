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

        /// <summary>Sets a map's size before load; returns 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__set_max_entries")]
        public static partial int bpf_map__set_max_entries(nint map, uint max_entries);

        /// <summary>Makes a map of an opened, not yet loaded object use an existing map; 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map__reuse_fd")]
        public static partial int bpf_map__reuse_fd(nint map, int fd);
    }
}
