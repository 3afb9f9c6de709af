using UdpFanout.Bpf;
using UdpFanout.Forwarding.Xdp;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.Xdp;

/// <summary>
/// What the kernel's netdev family says about a veth pair: its ends take XDP frames only while the peer runs XDP,
/// and it says so when that changes.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class XdpTransmittersTests : IDisposable
{
    private readonly NetworkNamespace _ns = new($"nlxtx{Environment.ProcessId % 10000:x}");

    public XdpTransmittersTests()
    {
        _ns.Exec("ip link add uxa type veth peer name uxb");
        _ns.Exec("ip link set uxa up");
        _ns.Exec("ip link set uxb up");
    }

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void Read_VethWhosePeerRunsXdp_ListedAndGoneWhenThePeerStops()
    {
        var uxa = int.Parse(_ns.Exec("cat /sys/class/net/uxa/ifindex").Trim());
        var uxb = int.Parse(_ns.Exec("cat /sys/class/net/uxb/ifindex").Trim());
        using var transmitters = _ns.Invoke(XdpTransmitters.Open);

        var before = transmitters.Read();
        _ns.Exec($"ip link set dev uxb xdpdrv obj {BpfObjectLocator.Find("xdp_chain.bpf.o")} sec xdp");
        var attached = transmitters.Read();
        // The rest of the attach's notifications, so the next one is the detach's.
        while (transmitters.WaitForChange(200))
        {
        }
        _ns.Exec("ip link set dev uxb xdpdrv off");
        var after = transmitters.Read();

        Assert.Equal((false, false), (before.Contains(uxa), before.Contains(uxb)));
        Assert.Equal((true, false), (attached.Contains(uxa), attached.Contains(uxb)));
        Assert.Equal((false, false), (after.Contains(uxa), after.Contains(uxb)));
    }

    [Fact]
    public void WaitForChange_PeerAttachesThenDetachesXdp_NotifiedEachTimeAndReadSeesIt()
    {
        var uxa = int.Parse(_ns.Exec("cat /sys/class/net/uxa/ifindex").Trim());
        using var transmitters = _ns.Invoke(XdpTransmitters.Open);
        Assert.DoesNotContain(uxa, transmitters.Read());
        Assert.False(transmitters.WaitForChange(200), "no notification while nothing changes");

        _ns.Exec($"ip link set dev uxb xdpdrv obj {BpfObjectLocator.Find("xdp_chain.bpf.o")} sec xdp");
        Assert.True(WaitForChange(transmitters), "a notification once the peer runs XDP");
        var attached = transmitters.Read();
        // The rest of the attach's notifications, so the next one is the detach's.
        while (transmitters.WaitForChange(200))
        {
        }
        _ns.Exec("ip link set dev uxb xdpdrv off");
        Assert.True(WaitForChange(transmitters), "a notification once the peer stopped");
        var detached = transmitters.Read();

        Assert.Equal((true, false), (attached.Contains(uxa), detached.Contains(uxa)));
    }

    /// <summary>Waits for a notification with a generous deadline, in short waits as the XDP layer's thread does.</summary>
    private static bool WaitForChange(XdpTransmitters transmitters)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (transmitters.WaitForChange(100))
            {
                return true;
            }
        }
        return false;
    }
}
