internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>Classic BPF <c>BPF_RET | BPF_K</c>: return the constant k, the number of bytes to keep (0 drops).</summary>
        public const ushort BPF_RET_K = 0x06;

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
