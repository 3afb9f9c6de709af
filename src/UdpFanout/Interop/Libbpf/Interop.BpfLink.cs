using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libbpf
    {
        /// <summary>
        /// enum bpf_attach_type's tc ingress through a tcx link (Linux 6.6). Debian 12's headers and libbpf 1.1 predate
        /// it; libbpf's generic bpf_link_create passes it on to bpf(2) unchanged.
        /// </summary>
        public const uint BPF_TCX_INGRESS = 46;

        /// <summary>enum bpf_link_type of a tcx link, as bpf_link_info.type reports it.</summary>
        public const uint BPF_LINK_TYPE_TCX = 11;

        /// <summary>BPF_LINK_CREATE: a link fd (the program stays attached while one is open) or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link_create")]
        public static partial int bpf_link_create(int prog_fd, int target_fd, uint attach_type, nint opts);

        /// <summary>BPF_LINK_UPDATE: swaps the link's program atomically; 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link_update")]
        public static partial int bpf_link_update(int link_fd, int new_prog_fd, nint opts);

        /// <summary>BPF_LINK_DETACH: detaches the link's program now, whoever else holds the link open; 0 or a negative errno.</summary>
        [LibraryImport(Libraries.Libbpf, EntryPoint = "bpf_link_detach")]
        public static partial int bpf_link_detach(int link_fd);
    }
}
