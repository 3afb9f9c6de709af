using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>
        /// BPF_RAW_TRACEPOINT_OPEN: attaches a raw tracepoint program, or with a null name a tp_btf program at the
        /// tracepoint it was loaded for; a link fd (the program stays attached while one is open) or a negative errno.
        /// </summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_raw_tracepoint_open", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int bpf_raw_tracepoint_open(string? name, int prog_fd);
    }
}
