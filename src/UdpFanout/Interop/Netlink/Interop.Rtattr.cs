internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>
        /// <c>struct rtattr</c>: the type-length header of each attribute after an rtnetlink message's fixed part;
        /// the next attribute starts 4-byte aligned (RTA_ALIGN).
        /// </summary>
        internal struct rtattr
        {
            public ushort rta_len;
            public ushort rta_type;
        }
    }
}
