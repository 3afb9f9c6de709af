internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>IPV6_PKTINFO from &lt;linux/in6.h&gt;: as a control message of sendmsg, the source address (and interface) of that one datagram.</summary>
        public const int IPV6_PKTINFO = 50;

        /// <summary><c>struct in6_pktinfo</c> from &lt;netinet/in.h&gt;: an address and an interface index (0: the route's).</summary>
        internal unsafe struct in6_pktinfo
        {
            public fixed byte ipi6_addr[16];
            public int ipi6_ifindex;
        }
    }
}
