using System.Runtime.InteropServices;

namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// What an <see cref="XskSocket"/> writes about itself in the page after its UMEM, in the same memfd, so that the
/// next process, which gets the socket and the memfd from systemd's store, can tell whether they still fit its
/// config (the kernel does not say which queue an AF_XDP socket is bound to, nor the sizes of its rings) and which
/// RX frames the killed forwarder had already taken. Only this process's own code reads it: not a kernel layout.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct XskRecord
{
    /// <summary>"udpfxsk" and a format version: a memfd of another version is not adopted, but for <see cref="Version1Magic"/>.</summary>
    public const ulong CurrentMagic = 0x6b73786670647502;

    /// <summary>
    /// Version 1, before <see cref="XskMapId"/>: the same fields up to <see cref="Taken"/>, so a socket kept by a
    /// process of that version is adopted too (as in no map this process can name), and its record rewritten.
    /// </summary>
    public const ulong Version1Magic = 0x6b73786670647501;

    public ulong Magic;
    public int Ifindex;
    public int Queue;
    public int FrameSize;
    public uint FrameCount;
    public uint FillSize;
    public uint CompletionSize;
    public uint RxSize;
    public uint TxSize;

    /// <summary>
    /// The RX ring index up to which the forwarder has taken frames to send: written before a batch goes out, while
    /// the RX consumer index moves only after. A frame between the two was sent, or lost with a killed process: the
    /// next one does not send it again.
    /// </summary>
    public uint Taken;

    /// <summary>
    /// The id of the XSKMAP the socket was last put in, 0 for none: written before the socket goes in, so that after
    /// a crash the next process can take it out of the dead process's map (see <see cref="KeptXskMap"/>), which the
    /// kernel would otherwise keep for as long as the socket lives.
    /// </summary>
    public uint XskMapId;
}
