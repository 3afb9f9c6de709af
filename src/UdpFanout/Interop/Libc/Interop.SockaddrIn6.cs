internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct sockaddr_in6</c> from &lt;netinet/in.h&gt;; port, flow label and address in network byte order.</summary>
        internal unsafe struct sockaddr_in6
        {
            public ushort sin6_family;
            public ushort sin6_port;
            public uint sin6_flowinfo;
            public fixed byte sin6_addr[16];
            public uint sin6_scope_id;
        }
    }
}
