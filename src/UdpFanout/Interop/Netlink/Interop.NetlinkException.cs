using UdpFanout.Model;

internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>
        /// A netlink exchange failed: the socket (open, send, receive, notifications lost), a reply that was cut
        /// short, or the kernel's refusal of a request (<see cref="Refused"/>: its NLMSG_ERROR or a failed dump's
        /// NLMSG_DONE), each with the errno.
        /// </summary>
        internal sealed class NetlinkException(string message, int errno, bool refused) : UserFixableException(message)
        {
            public int Errno { get; } = errno;

            /// <summary>The kernel answered the request with this errno (a lookup with no route, say); the socket is fine.</summary>
            public bool Refused { get; } = refused;

            public static NetlinkException For(string what, int errno, bool refused = false)
            {
                var hint = errno == Libc.EPERM ? " (missing CAP_NET_ADMIN: run as root or grant it, e.g. AmbientCapabilities= in the unit)" : "";
                return new NetlinkException($"{what}: {Libc.StrError(errno)}{hint}", errno, refused);
            }
        }
    }
}
