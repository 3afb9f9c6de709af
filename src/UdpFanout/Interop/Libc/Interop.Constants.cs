internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>The family of the address that dissolves a datagram socket's association (connect(2)).</summary>
        public const ushort AF_UNSPEC = 0;
        public const ushort AF_INET = 2;
        public const ushort AF_INET6 = 10;

        public const int SOL_IP = 0;
        public const int IP_RECVERR = 11;
        /// <summary>The route MTU of a connected socket (&lt;linux/in.h&gt;).</summary>
        public const int IP_MTU = 14;

        /// <summary>&lt;linux/in6.h&gt;: the IPv6 socket options and the level of ICMPv6's own (IPPROTO_ICMPV6).</summary>
        public const int SOL_IPV6 = 41;
        public const int IPV6_V6ONLY = 26;
        public const int IPV6_RECVERR = 25;
        /// <summary>The route MTU of a connected socket, as IP_MTU for IPv4.</summary>
        public const int IPV6_MTU = 24;
        public const int SOL_ICMPV6 = 58;
        public const int ICMP6_FILTER = 1;

        /// <summary>Level of raw-socket options (&lt;linux/socket.h&gt;); ICMP_FILTER from &lt;linux/icmp.h&gt;.</summary>
        public const int SOL_RAW = 255;
        public const int ICMP_FILTER = 1;

        public const int SOCK_DGRAM = 2;

        public const int SOL_SOCKET = 1;
        public const int SO_REUSEADDR = 2;
        public const int SO_SNDBUF = 7;
        public const int SO_RCVBUF = 8;
        public const int SO_REUSEPORT = 15;
        public const int SO_RCVTIMEO = 20;
        public const int SO_SNDBUFFORCE = 32;
        public const int SO_DOMAIN = 39;
        public const int SO_RCVBUFFORCE = 33;
        public const int SO_ATTACH_FILTER = 26;
        public const int SO_MEMINFO = 55;
        /// <summary>The socket's network namespace as a 64-bit cookie that the kernel never reuses (Linux 5.14).</summary>
        public const int SO_NETNS_COOKIE = 71;

        /// <summary>The control message type that passes file descriptors over a Unix socket.</summary>
        public const int SCM_RIGHTS = 1;

        /// <summary>Index of sk_drops in the u32 array SO_MEMINFO returns (&lt;linux/sock_diag.h&gt;).</summary>
        public const int SK_MEMINFO_DROPS = 8;
        public const int SK_MEMINFO_VARS = 9;

        public const int MSG_PEEK = 0x2;
        public const int MSG_TRUNC = 0x20;
        public const int MSG_DONTWAIT = 0x40;
        public const int MSG_ERRQUEUE = 0x2000;
        public const int MSG_WAITFORONE = 0x10000;
        public const int MSG_NOSIGNAL = 0x4000;

        public const int EINTR = 4;
        public const int EAGAIN = 11;
        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int ESRCH = 3;
        public const int EACCES = 13;
        public const int EBUSY = 16;
        public const int EEXIST = 17;
        public const int EINVAL = 22;
        public const int EADDRNOTAVAIL = 99;
        public const int ENOSPC = 28;
        public const int ENOBUFS = 105;
        public const int EMSGSIZE = 90;
        public const int EPROTO = 71;
        public const int ECONNREFUSED = 111;
        public const int ENETUNREACH = 101;
        public const int EHOSTUNREACH = 113;
    }
}
