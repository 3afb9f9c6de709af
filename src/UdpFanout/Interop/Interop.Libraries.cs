internal static partial class Interop
{
    /// <summary>The native libraries the daemon binds to, named once.</summary>
    internal static class Libraries
    {
        public const string Libc = "libc";
        public const string Libbpf = "libbpf.so.1";
    }
}
