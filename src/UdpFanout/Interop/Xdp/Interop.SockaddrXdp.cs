internal static partial class Interop
{
    internal static partial class Xdp
    {
        /// <summary><c>struct sockaddr_xdp</c>: binds a socket to one queue of one interface.</summary>
        internal struct sockaddr_xdp
        {
            public ushort sxdp_family;
            public ushort sxdp_flags;
            public uint sxdp_ifindex;
            public uint sxdp_queue_id;
            public uint sxdp_shared_umem_fd;
        }
    }
}
