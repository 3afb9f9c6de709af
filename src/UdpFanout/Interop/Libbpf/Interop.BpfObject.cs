using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>Returns NULL and sets errno on failure (libbpf 1.x strict mode).</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__open_file", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial nint bpf_object__open_file(string path, nint opts);

        /// <summary>Returns 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__load")]
        public static partial int bpf_object__load(nint obj);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__close")]
        public static partial void bpf_object__close(nint obj);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
        public static partial nint bpf_object__find_program_by_name(nint obj, string name);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_object__find_map_by_name", StringMarshalling = StringMarshalling.Utf8)]
        public static partial nint bpf_object__find_map_by_name(nint obj, string name);
    }
}
