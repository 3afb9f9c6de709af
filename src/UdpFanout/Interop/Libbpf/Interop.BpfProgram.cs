using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_program__fd")]
        public static partial int bpf_program__fd(nint prog);
    }
}
