using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>BPF_OBJ_PIN: names a map, program or link at a path of a BPF filesystem; 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_obj_pin", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int bpf_obj_pin(int fd, string pathname);

        /// <summary>
        /// BPF_OBJ_GET: a new descriptor of what is pinned at the path, or a negative errno. File permissions decide,
        /// not capabilities (opening by id would need CAP_SYS_ADMIN).
        /// </summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_obj_get", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int bpf_obj_get(string pathname);
    }
}
