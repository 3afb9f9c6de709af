internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>The error came from an ICMP message (ee_type and ee_code are the ICMP type and code).</summary>
        public const byte SO_EE_ORIGIN_ICMP = 2;
        public const byte SO_EE_ORIGIN_ICMP6 = 3;

        /// <summary>
        /// <c>struct sock_extended_err</c> from &lt;linux/errqueue.h&gt;: the IP_RECVERR control message of one queued
        /// error. The address of the node that reported it (the offender) follows in the same control message.
        /// </summary>
        internal struct sock_extended_err
        {
            public uint ee_errno;
            public byte ee_origin;
            public byte ee_type;
            public byte ee_code;
            public byte ee_pad;
            public uint ee_info;
            public uint ee_data;
        }
    }
}
