internal static partial class Interop
{
    internal static partial class Netlink
    {
        public const ushort RTM_NEWRULE = 32;
        public const ushort RTM_DELRULE = 33;
        public const ushort RTM_GETRULE = 34;

        /// <summary>Policy rule attributes (&lt;linux/fib_rules.h&gt;) that the kernel gives every rule, selectors aside.</summary>
        public const ushort FRA_PRIORITY = 6;
        public const ushort FRA_SUPPRESS_PREFIXLEN = 14;
        public const ushort FRA_TABLE = 15;
        public const ushort FRA_PROTOCOL = 21;

        /// <summary>A rule's action: look up a table.</summary>
        public const byte FR_ACT_TO_TBL = 1;

        /// <summary>A rule flag that says only that the rule cannot be deleted (the local table's).</summary>
        public const uint FIB_RULE_PERMANENT = 0x1;

        /// <summary><c>struct fib_rule_hdr</c>: the fixed part of a policy rule message, and of the RTM_GETRULE dump request.</summary>
        internal struct fib_rule_hdr
        {
            public byte family;
            public byte dst_len;
            public byte src_len;
            public byte tos;
            public byte table;
            public byte res1;
            public byte res2;
            public byte action;
            public uint flags;
        }
    }
}
