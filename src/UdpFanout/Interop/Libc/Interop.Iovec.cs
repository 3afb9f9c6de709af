internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct iovec</c> from &lt;sys/uio.h&gt;.</summary>
        internal unsafe struct iovec
        {
            public void* iov_base;
            public nuint iov_len;
        }
    }
}
