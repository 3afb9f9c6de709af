using System.Runtime.CompilerServices;

internal static partial class Interop
{
    internal static partial class Fanout
    {
        /// <summary><c>struct fanout_downstream_set</c>: the value of the inner map swapped on every change.</summary>
        internal struct fanout_downstream_set
        {
            public uint count;
            public uint pad;
            public Downstreams downstreams;

            [InlineArray(FANOUT_MAX_DOWNSTREAMS)]
            internal struct Downstreams
            {
                private fanout_downstream _element;
            }
        }
    }
}
