using System.Runtime.InteropServices;
using System.Text;

namespace UdpFanout.Bpf;

/// <summary>
/// Captures what libbpf prints (verifier logs included) while a BPF object is opened and loaded, so a failure's
/// exception carries the reason instead of it going to stderr.
/// </summary>
internal static unsafe class LibbpfLog
{
    private static readonly Lock Gate = new();
    private static readonly StringBuilder Captured = new();

    static LibbpfLog() => Interop.Libbpf.libbpf_set_print(&Print);

    /// <summary>Runs <paramref name="action"/> with libbpf's output captured; returns what it printed.</summary>
    public static string Capture(Action action)
    {
        lock (Gate)
        {
            Captured.Clear();
            action();
            return Captured.ToString();
        }
    }

    [UnmanagedCallersOnly]
    private static int Print(int level, byte* format, nint args)
    {
        if (level == Interop.Libbpf.LIBBPF_DEBUG)
        {
            return 0;
        }
        const int size = 4096;
        var buffer = stackalloc byte[size];
        var length = Interop.Libc.vsnprintf(buffer, size, format, args);
        Captured.Append(Marshal.PtrToStringUTF8((nint)buffer, Math.Clamp(length, 0, size - 1)));
        return 0;
    }
}
