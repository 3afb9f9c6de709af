internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>The bits of nla_type that name the attribute; the two above flag nested and network-order ones.</summary>
        public const ushort NLA_TYPE_MASK = 0x3FFF;

        /// <summary>
        /// <c>struct nlattr</c> (&lt;linux/netlink.h&gt;): length (header included), type; the payload follows, padded
        /// to 4 bytes. rtnetlink's <c>struct rtattr</c> is the same header under other names.
        /// </summary>
        internal struct nlattr
        {
            public ushort nla_len;
            public ushort nla_type;
        }
    }
}
