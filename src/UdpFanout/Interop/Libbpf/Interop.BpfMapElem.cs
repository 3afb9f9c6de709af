using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        public const ulong BPF_ANY = 0;

        public const uint BPF_MAP_TYPE_ARRAY = 2;

        /// <summary>An AF_XDP socket map, as bpf_map_info.type reports it.</summary>
        public const uint BPF_MAP_TYPE_XSKMAP = 17;

        /// <summary>Returns 0, or -1 with errno set (the thin syscall wrappers of bpf.h).</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_update_elem", SetLastError = true)]
        public static unsafe partial int bpf_map_update_elem(int fd, void* key, void* value, ulong flags);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_lookup_elem", SetLastError = true)]
        public static unsafe partial int bpf_map_lookup_elem(int fd, void* key, void* value);

        /// <summary>Returns 0, or -1 with errno set (ENOENT when the key is not there).</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_delete_elem", SetLastError = true)]
        public static unsafe partial int bpf_map_delete_elem(int fd, void* key);

        /// <summary>Returns a new map's fd, or -1 with errno set.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_map_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int bpf_map_create(uint map_type, string map_name, uint key_size, uint value_size, uint max_entries, nint opts);

        /// <summary>How many values a per-CPU map holds for one key.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "libbpf_num_possible_cpus")]
        public static partial int libbpf_num_possible_cpus();
    }
}
