namespace UdpFanout.Forwarding.AfXdp;

/// <summary>
/// Which UMEM frames of a socket taken over go back to the fill ring, from what its rings hold (the socket's
/// <see cref="XskSocket.Adopt"/>), apart from the rings themselves so that every case can be tested. A frame must
/// never be in two places: the kernel would receive into a frame it is still sending, or two RX descriptors would
/// name one frame.
/// </summary>
internal static class FrameReclaim
{
    /// <summary>
    /// The frames for the fill ring, and how many stay out of use. <paramref name="skipped"/> are the RX frames the
    /// last forwarder had taken to send: each goes back unsent, except one it had also put on the TX ring (killed
    /// between handing the TX ring its batch and consuming the RX ring), which is the TX ring's until the completion
    /// ring returns it, and one that may be in flight (<paramref name="inFlight"/>: sends the kernel took from the TX
    /// ring and has not completed), which stays out. The frames in no ring were in that forwarder's hands and go back
    /// when the kernel cannot hold any outside the rings (<paramref name="kernelMayHold"/> false), else stay out.
    /// </summary>
    /// <param name="rx">The RX ring's frames from its consumer on: the first <paramref name="skipped"/> were taken.</param>
    public static (List<ulong> ToFill, uint LeftOut) Plan(ReadOnlySpan<ulong> fill, ReadOnlySpan<ulong> completion, ReadOnlySpan<ulong> rx,
        int skipped, ReadOnlySpan<ulong> tx, uint inFlight, bool kernelMayHold, uint frameCount, int frameSize)
    {
        var owned = new bool[frameCount];
        var sending = new bool[frameCount];
        uint Frame(ulong address) => (uint)(address / (ulong)frameSize % frameCount);
        foreach (var address in fill)
        {
            owned[Frame(address)] = true;
        }
        foreach (var address in rx)
        {
            owned[Frame(address)] = true;
        }
        foreach (var address in completion)
        {
            owned[Frame(address)] = sending[Frame(address)] = true;
        }
        foreach (var address in tx)
        {
            owned[Frame(address)] = sending[Frame(address)] = true;
        }
        var toFill = new List<ulong>();
        var leftOut = 0u;
        foreach (var address in rx[..skipped])
        {
            if (sending[Frame(address)])
            {
                continue;
            }
            if (inFlight != 0)
            {
                leftOut++;
                continue;
            }
            toFill.Add(address & ~(ulong)(frameSize - 1));
        }
        for (var frame = 0u; frame < frameCount; frame++)
        {
            if (owned[frame])
            {
                continue;
            }
            if (kernelMayHold || inFlight != 0)
            {
                leftOut++;
                continue;
            }
            toFill.Add(frame * (ulong)frameSize);
        }
        return (toFill, leftOut);
    }
}
