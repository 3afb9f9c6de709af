using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// The union of <see cref="sockaddr_in"/> and <see cref="sockaddr_in6"/> that C programs declare to hold an
        /// address of either family in one slot (Linux has no name for it; Windows calls it SOCKADDR_INET). Both
        /// open with the family and the port at the same offsets, so those read the same whatever the family.
        /// </summary>
        [StructLayout(LayoutKind.Explicit)]
        internal unsafe struct sockaddr_inet
        {
            [FieldOffset(0)] public sockaddr_in v4;
            [FieldOffset(0)] public sockaddr_in6 v6;
            [FieldOffset(0)] public ushort family;
            [FieldOffset(2)] public ushort port;

            /// <summary>The length to pass as msg_namelen, which tells the kernel the family's layout.</summary>
            public readonly uint Length => family == AF_INET6 ? (uint)sizeof(sockaddr_in6) : (uint)sizeof(sockaddr_in);

            public static sockaddr_inet From(IPEndPoint endpoint)
            {
                if (endpoint.AddressFamily == AddressFamily.InterNetwork)
                {
                    return new sockaddr_inet { v4 = sockaddr_in.From(endpoint) };
                }
                if (endpoint.AddressFamily != AddressFamily.InterNetworkV6)
                {
                    throw new ArgumentException($"{endpoint} is neither IPv4 nor IPv6", nameof(endpoint));
                }
                var result = new sockaddr_inet();
                result.v6.sin6_family = AF_INET6;
                result.v6.sin6_port = BinaryPrimitives.ReverseEndianness((ushort)endpoint.Port);
                endpoint.Address.TryWriteBytes(new Span<byte>(result.v6.sin6_addr, 16), out _);
                return result;
            }

            /// <summary>Whether both hold the same family and address (ports aside).</summary>
            public readonly bool SameAddress(in sockaddr_inet other)
            {
                if (family != other.family)
                {
                    return false;
                }
                if (family == AF_INET)
                {
                    return v4.sin_addr == other.v4.sin_addr;
                }
                fixed (byte* a = v6.sin6_addr)
                fixed (byte* b = other.v6.sin6_addr)
                {
                    return *(UInt128*)a == *(UInt128*)b;
                }
            }

            public readonly bool SameEndPoint(in sockaddr_inet other) => port == other.port && SameAddress(other);

            public readonly IPEndPoint ToEndPoint()
            {
                if (family == AF_INET)
                {
                    return v4.ToEndPoint();
                }
                fixed (byte* address = v6.sin6_addr)
                {
                    return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(address, 16)), BinaryPrimitives.ReverseEndianness(port));
                }
            }
        }
    }
}
