using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>
        /// One request message being built: the nlmsghdr, the fixed part of the family's message, then attributes,
        /// each 4-byte aligned. <see cref="NetlinkSocket.Request"/> fills in the length and sequence number; its
        /// flags say how the reply ends (NLM_F_DUMP: at NLMSG_DONE; NLM_F_ACK: at the acknowledgement).
        /// </summary>
        internal sealed unsafe class NetlinkRequest
        {
            private byte[] _bytes = new byte[128];
            private int _length = sizeof(nlmsghdr);

            public NetlinkRequest(ushort type, ushort flags)
            {
                Type = type;
                Flags = flags;
            }

            public ushort Type { get; }

            public ushort Flags { get; }

            /// <summary>Appends the message's fixed part (rtmsg, ndmsg, tcmsg, genlmsghdr, ...).</summary>
            public NetlinkRequest Put<T>(in T fixedPart) where T : unmanaged
            {
                var at = Reserve(sizeof(T));
                MemoryMarshal.Write(_bytes.AsSpan(at), in fixedPart);
                return this;
            }

            public NetlinkRequest Attribute(ushort type, ReadOnlySpan<byte> payload)
            {
                var at = Reserve(sizeof(nlattr) + payload.Length);
                MemoryMarshal.Write(_bytes.AsSpan(at), new nlattr { nla_len = (ushort)(sizeof(nlattr) + payload.Length), nla_type = type });
                payload.CopyTo(_bytes.AsSpan(at + sizeof(nlattr)));
                return this;
            }

            public NetlinkRequest Attribute<T>(ushort type, T value) where T : unmanaged =>
                Attribute(type, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

            /// <summary>The whole message with its header written, numbered <paramref name="sequence"/>.</summary>
            internal ReadOnlySpan<byte> Seal(uint sequence)
            {
                // Padded to the alignment, as libmnl and the kernel's own nlmsg_put pad it.
                var length = NLMSG_ALIGN(_length);
                MemoryMarshal.Write(_bytes, new nlmsghdr { nlmsg_len = (uint)length, nlmsg_type = Type, nlmsg_flags = Flags, nlmsg_seq = sequence });
                return _bytes.AsSpan(0, length);
            }

            /// <summary>Makes room for <paramref name="size"/> bytes at the next aligned offset, zeroed, and returns that offset.</summary>
            private int Reserve(int size)
            {
                var at = NLMSG_ALIGN(_length);
                if (at + NLMSG_ALIGN(size) > _bytes.Length)
                {
                    Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, at + NLMSG_ALIGN(size)));
                }
                _length = at + size;
                return at;
            }
        }
    }
}
