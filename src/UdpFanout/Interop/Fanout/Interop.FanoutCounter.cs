internal static partial class Interop
{
    internal static partial class Fanout
    {
        /// <summary><c>struct fanout_counter</c>: one per CPU in the per-CPU stats maps.</summary>
        internal struct fanout_counter
        {
            public ulong packets;
            public ulong bytes;
        }
    }
}
