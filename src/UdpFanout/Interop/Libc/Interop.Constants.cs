internal static partial class Interop
{
    internal static partial class Libc
    {
        public const ushort AF_INET = 2;

        public const int SOL_SOCKET = 1;
        public const int SO_REUSEADDR = 2;
        public const int SO_SNDBUF = 7;
        public const int SO_RCVBUF = 8;
        public const int SO_REUSEPORT = 15;
        public const int SO_RCVTIMEO = 20;
        public const int SO_SNDBUFFORCE = 32;
        public const int SO_RCVBUFFORCE = 33;

        public const int MSG_TRUNC = 0x20;
        public const int MSG_DONTWAIT = 0x40;
        public const int MSG_WAITFORONE = 0x10000;

        public const int EINTR = 4;
        public const int EAGAIN = 11;
        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int EEXIST = 17;
        public const int EINVAL = 22;
        public const int ENOBUFS = 105;
        public const int ECONNREFUSED = 111;
    }
}
