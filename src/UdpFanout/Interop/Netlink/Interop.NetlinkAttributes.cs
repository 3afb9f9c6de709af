using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Netlink
    {
        /// <summary>
        /// Reads the attributes that follow a message's fixed part (struct nlattr, or rtnetlink's struct rtattr:
        /// the same header), each 4-byte aligned. A malformed one (shorter than its header, or past the end)
        /// ends the walk: what follows it cannot be found.
        /// </summary>
        internal static unsafe class NetlinkAttributes
        {
            /// <summary>
            /// Splits a message body into its fixed part (<typeparamref name="T"/>: genlmsghdr, rtmsg, ndmsg, ...)
            /// and the attributes after it; false when the body is too short to hold the fixed part.
            /// </summary>
            public static bool TrySplit<T>(ReadOnlySpan<byte> body, out T fixedPart, out ReadOnlySpan<byte> attributes) where T : unmanaged
            {
                if (body.Length < sizeof(T))
                {
                    fixedPart = default;
                    attributes = default;
                    return false;
                }
                fixedPart = MemoryMarshal.Read<T>(body);
                attributes = body[Math.Min(body.Length, NLMSG_ALIGN(sizeof(T)))..];
                return true;
            }

            /// <summary>The payload of the first attribute of <paramref name="type"/>, or an empty span.</summary>
            public static ReadOnlySpan<byte> Find(ReadOnlySpan<byte> attributes, ushort type)
            {
                foreach (var (found, payload) in Walk(attributes))
                {
                    if (found == type)
                    {
                        return payload;
                    }
                }
                return [];
            }

            /// <summary>A fixed-size attribute (u16, u32, u64, an IPv4 address as on the wire), or null when absent or of another size.</summary>
            public static T? Read<T>(ReadOnlySpan<byte> attributes, ushort type) where T : unmanaged =>
                Find(attributes, type) is var payload && payload.Length == sizeof(T) ? MemoryMarshal.Read<T>(payload) : null;

            internal readonly ref struct Attribute(ushort type, ReadOnlySpan<byte> payload)
            {
                public ushort Type { get; } = type;

                public ReadOnlySpan<byte> Payload { get; } = payload;

                public void Deconstruct(out ushort type, out ReadOnlySpan<byte> payload)
                {
                    type = Type;
                    payload = Payload;
                }
            }

            public static Enumerator Walk(ReadOnlySpan<byte> attributes) => new(attributes);

            /// <summary>Each attribute's type (the flag bits for nested and network-order ones masked off) and payload.</summary>
            internal ref struct Enumerator(ReadOnlySpan<byte> attributes)
            {
                private readonly ReadOnlySpan<byte> _attributes = attributes;
                private int _next;

                public Attribute Current { get; private set; }

                public readonly Enumerator GetEnumerator() => this;

                public bool MoveNext()
                {
                    if (_next + sizeof(nlattr) > _attributes.Length)
                    {
                        return false;
                    }
                    var header = MemoryMarshal.Read<nlattr>(_attributes[_next..]);
                    if (header.nla_len < sizeof(nlattr) || _next + header.nla_len > _attributes.Length)
                    {
                        return false;
                    }
                    Current = new Attribute((ushort)(header.nla_type & NLA_TYPE_MASK), _attributes.Slice(_next + sizeof(nlattr), header.nla_len - sizeof(nlattr)));
                    _next += NLMSG_ALIGN(header.nla_len);
                    return true;
                }
            }
        }
    }
}
