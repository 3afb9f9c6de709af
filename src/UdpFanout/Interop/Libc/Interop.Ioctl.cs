using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        public const uint SIOCGIFMTU = 0x8921;
        public const uint SIOCSIFMTU = 0x8922;
        public const uint SIOCGIFHWADDR = 0x8927;
        public const uint SIOCETHTOOL = 0x8946;
        public const int EOPNOTSUPP = 95;

        /// <summary><c>struct ifreq</c> from &lt;net/if.h&gt; as the MTU, hardware address and ethtool requests use it.</summary>
        [StructLayout(LayoutKind.Explicit, Size = 40)]
        internal unsafe struct ifreq
        {
            [FieldOffset(0)] public fixed byte ifr_name[16];
            [FieldOffset(16)] public int ifr_mtu;
            [FieldOffset(16)] public void* ifr_data;
            /// <summary>A <c>struct sockaddr</c>: the family, then the MAC address in the first six bytes of sa_data.</summary>
            [FieldOffset(16)] public fixed byte ifr_hwaddr[16];
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
        public static unsafe partial int ioctl(int fd, nuint request, void* arg);
    }
}
