using System.Runtime.InteropServices;
using static Interop.Libc;

namespace UdpFanout.Health;

/// <summary>
/// Random bytes for probe tokens straight from getrandom(2). Not RandomNumberGenerator: its first use loads the
/// crypto library, which needs file descriptors; a process that is out of them at that moment keeps the failed
/// type initializer for good, and no probe could ever run again.
/// </summary>
internal static unsafe class ProbeTokens
{
    public static void Fill(Span<byte> bytes)
    {
        fixed (byte* start = bytes)
        {
            var filled = 0;
            while (filled < bytes.Length)
            {
                var got = getrandom(start + filled, (nuint)(bytes.Length - filled), 0);
                if (got < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }
                    throw new System.ComponentModel.Win32Exception(errno, $"getrandom: {StrError(errno)}");
                }
                filled += (int)got;
            }
        }
    }
}
