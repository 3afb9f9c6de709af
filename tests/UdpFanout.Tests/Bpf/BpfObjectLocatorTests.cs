using UdpFanout.Bpf;

namespace UdpFanout.Tests.Bpf;

public sealed class BpfObjectLocatorTests
{
    [Fact]
    public void Find_BuiltObject_IsFoundNextToTheBinary() =>
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "bpf", "tc_fanout.bpf.o"), BpfObjectLocator.Find("tc_fanout.bpf.o"));

    [Fact]
    public void Find_MissingObject_NamesEveryPlaceItLookedAndWhatToDo()
    {
        var error = Assert.Throws<BpfException>(() => BpfObjectLocator.Find("missing.bpf.o"));

        Assert.Equal(
            $"BPF object missing.bpf.o not found; looked in: {Path.Combine(AppContext.BaseDirectory, "bpf", "missing.bpf.o")}, /usr/lib/udp-fanout/bpf/missing.bpf.o (reinstall the package, or set UDP_FANOUT_BPF_DIR)",
            error.Message);
    }

    [Fact]
    public void Open_NotAnObjectFile_SaysWhichFileAndWhy()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "not ELF");

            var error = Assert.Throws<BpfException>(() => BpfObject.Open(file));

            Assert.StartsWith($"cannot open BPF object {file}: ", error.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
