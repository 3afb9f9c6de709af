using UdpFanout.Tests.Testing;
using UdpFanout.Tuning;

namespace UdpFanout.Tests.Tuning;

/// <summary>What a real device reports through ethtool's ioctl, in a network namespace of its own.</summary>
[Collection(KernelCollection.Name)]
public sealed class NetDeviceTests : IDisposable
{
    private readonly NetworkNamespace _ns = new($"kddev{Environment.ProcessId % 10000:x}");

    public NetDeviceTests() => _ns.Exec("ip link add kdv0 type veth peer name kdv1");

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void Driver_Veth_IsVeth()
    {
        Assert.Equal("veth", _ns.Invoke(() =>
        {
            using var device = new NetDevice("kdv0");
            return device.Driver;
        }));
    }

    [Fact]
    public void Driver_LoopbackHasNoDriverInfo_SaysWhichDeviceAndWhy()
    {
        var error = Assert.Throws<InvalidOperationException>(() => _ns.Invoke(() =>
        {
            using var device = new NetDevice("lo");
            return device.Driver;
        }));

        Assert.Equal("cannot read the driver of lo: Operation not supported (errno 95)", error.InnerException!.Message);
    }
}
