using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Tools;

/// <summary>The benchmark harness's smoke run: proves the testbed, generator, sinks and report work; measures nothing.</summary>
[Collection(KernelCollection.Name)]
public sealed class BenchSmokeTests
{
    /// <param name="generator">trafgen's skbs, or XDP frames from BPF_PROG_RUN's live mode (tools/bench/xdpgen.py).</param>
    [Theory]
    [InlineData("trafgen")]
    [InlineData("xdp")]
    public void Smoke_WritesAReportWithDeliveredDatagrams(string generator)
    {
        var root = ConfigLoaderTests.RepositoryRoot();
        var report = Path.Combine(Path.GetTempPath(), $"bench-smoke-{Guid.NewGuid():N}.md");
        try
        {
            Shell.Run($"cd {root} && /usr/bin/python3 tools/bench/bench.py --smoke --generator {generator} --binary {Path.Combine(AppContext.BaseDirectory, "udp-fanout")} --out {report}");

            var text = File.ReadAllText(report);
            var row = text.Split('\n').First(l => l.StartsWith("| udp-fanout userspace (1 worker) |", StringComparison.Ordinal));
            Assert.Matches(@"\| [1-9]\d*k \(", row);
            Assert.Contains("## Share delivered at fixed offered rates", text);
            Assert.Contains($"One {generator} core generates", text);
        }
        finally
        {
            File.Delete(report);
        }
    }
}
