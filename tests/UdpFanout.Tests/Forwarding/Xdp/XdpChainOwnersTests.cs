using System.Diagnostics;
using UdpFanout.Forwarding.Xdp;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.Xdp;

/// <summary>The map of who holds which slot of a pinned chain, and whether a holder's process still holds it.</summary>
[Collection(KernelCollection.Name)]
public sealed class XdpChainOwnersTests
{
    [Fact]
    public void Set_ListenersUpToTheLongestName_HeldReturnsThemWithTheirProcesses()
    {
        using var owners = XdpChainOwners.Create();
        var longest = new string('n', 64);

        owners.Set(3, longest, 4242);
        owners.Set(0, "syslog", 7);
        owners.Set(5, "gone", 9);
        owners.Clear(5);

        Assert.Equal([(0u, "syslog", 7), (3u, longest, 4242)], owners.Held());
    }

    [Fact]
    public void Runs_ThisProcessAndAGoneOne_TellThemApart()
    {
        using var exited = Process.Start("true")!;
        exited.WaitForExit();
        var gone = exited.Id;

        Assert.True(XdpChainOwners.Runs(Environment.ProcessId));
        // pid 1 belongs to another user on some machines: kill(2) answers EPERM, and it runs.
        Assert.True(XdpChainOwners.Runs(1));
        Assert.False(XdpChainOwners.Runs(gone));
    }

    [Fact]
    public void HeldBy_ThisProcessHoldsTheMap_AnotherLiveProcessAndAGoneOneDoNot()
    {
        // This process holds the map as a listener's process does; XdpChainAcrossProcessesTests has a daemon process
        // hold it, and its slot refused to a second process.
        using var owners = XdpChainOwners.Create();
        // A live process with the pid a dead holder had: the kernel gives pids out again.
        using var other = Process.Start("sleep", "30")!;
        using var exited = Process.Start("true")!;
        exited.WaitForExit();
        try
        {
            Assert.True(owners.HeldBy(Environment.ProcessId));
            Assert.False(owners.HeldBy(other.Id));
            Assert.False(owners.HeldBy(exited.Id));
        }
        finally
        {
            other.Kill();
        }
    }
}
