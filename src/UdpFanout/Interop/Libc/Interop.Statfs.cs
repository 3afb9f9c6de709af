using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>statfs's f_type of a BPF filesystem (BPF_FS_MAGIC in &lt;linux/magic.h&gt;).</summary>
        public const long BPF_FS_MAGIC = 0xcafe4a11;

        /// <summary><c>struct statfs</c> from &lt;sys/vfs.h&gt; (64-bit glibc): only its type is read.</summary>
        internal unsafe struct statfs
        {
            public long f_type;
            public long f_bsize;
            public ulong f_blocks;
            public ulong f_bfree;
            public ulong f_bavail;
            public ulong f_files;
            public ulong f_ffree;
            public fixed int f_fsid[2];
            public long f_namelen;
            public long f_frsize;
            public long f_flags;
            public fixed long f_spare[4];
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "statfs", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static unsafe partial int statfs_path(string path, statfs* buf);
    }
}
