using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        public const uint XDP_FLAGS_SKB_MODE = 1 << 1;
        public const uint XDP_FLAGS_DRV_MODE = 1 << 2;

        /// <summary>Attaches (replacing any program already there unless told otherwise). 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_xdp_attach")]
        public static partial int bpf_xdp_attach(int ifindex, int prog_fd, uint flags, nint opts);

        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_xdp_detach")]
        public static partial int bpf_xdp_detach(int ifindex, uint flags, nint opts);
    }
}
