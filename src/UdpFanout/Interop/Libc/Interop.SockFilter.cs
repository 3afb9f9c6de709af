internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>Classic BPF <c>BPF_RET | BPF_K</c>: return the constant k, the number of bytes to keep (0 drops).</summary>
        public const ushort BPF_RET_K = 0x06;

        /// <summary><c>BPF_LDX | BPF_B | BPF_MSH</c>: X = 4 * (P[k] &amp; 0xf), an IPv4 header's length.</summary>
        public const ushort BPF_LDX_B_MSH = 0xb1;

        /// <summary><c>BPF_LD | BPF_H | BPF_ABS</c>: A = the 16 bits at P[k], in network byte order.</summary>
        public const ushort BPF_LD_H_ABS = 0x28;

        /// <summary><c>BPF_LD | BPF_H | BPF_IND</c>: A = the 16 bits at P[X + k], in network byte order.</summary>
        public const ushort BPF_LD_H_IND = 0x48;

        /// <summary><c>BPF_JMP | BPF_JEQ | BPF_K</c>: skip jt instructions when A == k, else jf.</summary>
        public const ushort BPF_JEQ_K = 0x15;

        /// <summary><c>struct sock_filter</c> from &lt;linux/filter.h&gt;: one classic BPF instruction.</summary>
        internal struct sock_filter
        {
            public ushort code;
            public byte jt;
            public byte jf;
            public uint k;
        }

        /// <summary><c>struct sock_fprog</c> from &lt;linux/filter.h&gt;: a classic BPF program for SO_ATTACH_FILTER.</summary>
        internal unsafe struct sock_fprog
        {
            public ushort len;
            public sock_filter* filter;
        }
    }
}
