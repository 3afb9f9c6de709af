using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct sockaddr_in</c> from &lt;netinet/in.h&gt;; port and address in network byte order.</summary>
        internal unsafe struct sockaddr_in
        {
            public ushort sin_family;
            public ushort sin_port;
            public uint sin_addr;
            public fixed byte sin_zero[8];

            public static sockaddr_in From(IPEndPoint endpoint)
            {
                if (endpoint.AddressFamily != AddressFamily.InterNetwork)
                {
                    throw new ArgumentException($"{endpoint} is not an IPv4 endpoint", nameof(endpoint));
                }
                Span<byte> address = stackalloc byte[4];
                endpoint.Address.TryWriteBytes(address, out _);
                return new sockaddr_in
                {
                    sin_family = AF_INET,
                    sin_port = BinaryPrimitives.ReverseEndianness((ushort)endpoint.Port),
                    sin_addr = BitConverter.ToUInt32(address),
                };
            }

            public readonly IPEndPoint ToEndPoint() =>
                new(new IPAddress(sin_addr), BinaryPrimitives.ReverseEndianness(sin_port));
        }
    }
}
