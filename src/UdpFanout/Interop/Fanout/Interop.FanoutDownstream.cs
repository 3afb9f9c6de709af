internal static partial class Interop
{
    internal static partial class Fanout
    {
        public const int FANOUT_MAX_DOWNSTREAMS = 256;

        /// <summary><c>struct fanout_downstream</c>: address and port in network byte order, and its counter slot.</summary>
        internal struct fanout_downstream
        {
            public uint addr;
            public ushort port;
            public ushort slot;
        }
    }
}
