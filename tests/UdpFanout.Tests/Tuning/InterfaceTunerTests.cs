using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Tests.Testing;
using UdpFanout.Tuning;

namespace UdpFanout.Tests.Tuning;

/// <summary>Tuning a real veth in a network namespace.</summary>
[Collection(KernelCollection.Name)]
public sealed class InterfaceTunerTests : IDisposable
{
    private readonly NetworkNamespace _ns = new($"ufttune{Environment.ProcessId % 10000:x}");
    private readonly RecordingLogger _log = new();

    public InterfaceTunerTests() => _ns.Exec("ip link add tun0 type veth peer name tun1");

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void Apply_NewMtu_ChangesItAndLogsBeforeAndAfter()
    {
        _ns.Invoke(() => new InterfaceTuner(_log).Apply(new InterfaceTuningConfig("tun0", 1400, null)));

        Assert.Contains("mtu 1400", _ns.Exec("ip link show tun0"));
        Assert.Equal(["tun0: MTU 1500 -> 1400"], _log.Messages);
    }

    [Fact]
    public void Apply_Twice_LeavesWhatIsAlreadyRight()
    {
        var tuning = new InterfaceTuningConfig("tun0", 9000, null);

        _ns.Invoke(() => new InterfaceTuner(_log).Apply(tuning));
        _ns.Invoke(() => new InterfaceTuner(_log).Apply(tuning));

        Assert.Equal(["tun0: MTU 1500 -> 9000", "tun0: MTU already 9000"], _log.Messages);
    }

    [Fact]
    public void Apply_CombinedChannelsOnADriverWithout_SaysSoClearly()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            _ns.Invoke(() => new InterfaceTuner(_log).Apply(new InterfaceTuningConfig("tun0", null, 2))));

        Assert.Equal("tun0 has no combined channels to set (its driver reports a maximum of 0; remove combined_channels for it)", error.InnerException!.Message);
    }

    [Fact]
    public void Apply_MissingInterface_NamesIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            _ns.Invoke(() => new InterfaceTuner(_log).Apply(new InterfaceTuningConfig("nosuch0", 1500, null))));

        Assert.Equal("interface nosuch0 does not exist (`ip link` lists the interfaces)", error.InnerException!.Message);
    }
}
