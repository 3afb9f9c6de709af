using UdpFanout.Forwarding.AfXdp;

namespace UdpFanout.Tests.Forwarding.AfXdp;

/// <summary>
/// What a socket taken over puts back in its fill ring, for each state a killed forwarder can leave its rings in:
/// after the plan every frame is in exactly one place (fill ring, RX ring, TX ring, completion ring) or counted as
/// left out, and none is in two.
/// </summary>
public sealed class FrameReclaimTests
{
    private const uint Frames = 16;
    private const int FrameSize = 2048;
    // Where the kernel puts a frame's data: RX and TX descriptors name an address inside the frame, not its start.
    private const ulong Headroom = 256;

    [Fact]
    public void Plan_NothingInFlight_TakenFramesAndFramesInNoRingGoBackEachOnce()
    {
        ulong[] fill = [At(0), At(1), At(2)], rx = [Data(3), Data(4), Data(5), Data(6)], tx = [Data(7)], completion = [At(8)];

        var (toFill, leftOut) = FrameReclaim.Plan(fill, completion, rx, skipped: 2, tx, inFlight: 0, kernelMayHold: false, Frames, FrameSize);

        Assert.Equal([At(3), At(4), .. Enumerable.Range(9, 7).Select(f => At((uint)f))], toFill);
        Assert.Equal(0u, leftOut);
        AssertEachFrameOnce(fill, toFill, rx[2..], tx, completion, leftOut);
    }

    [Fact]
    public void Plan_KilledAfterTheTxRingGotItsBatchBeforeTheRxRingWasConsumed_ThoseFramesAreLeftToTheCompletionRing()
    {
        // Frames 3, 4 and 5 were taken; 4 and 5 went out on the TX ring (5 is already back in the completion ring),
        // 3 was sent with sendmmsg. Refilling 4 or 5 too would give each two owners.
        ulong[] fill = [At(0), At(1)], rx = [Data(3), Data(4), Data(5), Data(6)], tx = [Data(4)], completion = [At(5)];

        var (toFill, leftOut) = FrameReclaim.Plan(fill, completion, rx, skipped: 3, tx, inFlight: 0, kernelMayHold: false, Frames, FrameSize);

        Assert.Contains(At(3), toFill);
        Assert.DoesNotContain(At(4), toFill);
        Assert.DoesNotContain(At(5), toFill);
        Assert.Equal(0u, leftOut);
        AssertEachFrameOnce(fill, toFill, rx[3..], tx, completion, leftOut);
    }

    [Fact]
    public void Plan_SendsTheKernelHasNotCompleted_TakenAndFreeFramesStayOut()
    {
        // One send the kernel took from the TX ring is in no ring: it may be any frame that is in none.
        ulong[] fill = [At(0)], rx = [Data(3), Data(4)], tx = [], completion = [];

        var (toFill, leftOut) = FrameReclaim.Plan(fill, completion, rx, skipped: 1, tx, inFlight: 1, kernelMayHold: false, Frames, FrameSize);

        Assert.Empty(toFill);
        Assert.Equal(1u + (Frames - 3), leftOut);
        AssertEachFrameOnce(fill, toFill, rx[1..], tx, completion, leftOut);
    }

    [Fact]
    public void Plan_TheKernelMayHoldFramesOutsideTheRings_TakenFramesGoBackFreeOnesStayOut()
    {
        // Zero copy or an RX overflow: a frame in no ring may be the driver's; a taken RX frame is known to be ours.
        ulong[] fill = [At(0)], rx = [Data(3), Data(4)], tx = [], completion = [];

        var (toFill, leftOut) = FrameReclaim.Plan(fill, completion, rx, skipped: 2, tx, inFlight: 0, kernelMayHold: true, Frames, FrameSize);

        Assert.Equal([At(3), At(4)], toFill);
        Assert.Equal(Frames - 3, leftOut);
        AssertEachFrameOnce(fill, toFill, [], tx, completion, leftOut);
    }

    private static ulong At(uint frame) => frame * (ulong)FrameSize;

    private static ulong Data(uint frame) => At(frame) + Headroom;

    /// <summary>No frame in two places, and every frame somewhere or among those left out.</summary>
    private static void AssertEachFrameOnce(ulong[] fill, List<ulong> toFill, ulong[] rxLeft, ulong[] tx, ulong[] completion, uint leftOut)
    {
        var placed = fill.Concat(toFill).Concat(rxLeft).Concat(tx).Concat(completion).Select(a => a / FrameSize).ToArray();
        Assert.Equal(placed.Length, placed.Distinct().Count());
        Assert.Equal(Frames, (uint)placed.Length + leftOut);
    }
}
