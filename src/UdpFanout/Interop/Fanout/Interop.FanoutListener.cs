internal static partial class Interop
{
    /// <summary>The structs of bpf/include/fanout_shared.h, shared with the BPF programs.</summary>
    internal static partial class Fanout
    {
        /// <summary><c>struct fanout_listener</c>: what the program matches; network byte order.</summary>
        internal struct fanout_listener
        {
            public uint addr;
            public ushort port;
            public ushort pad;
        }
    }
}
