using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Tools;

/// <summary>The benchmark harness's smoke run: proves the testbed, generator, sinks and report work; measures nothing.</summary>
[Collection(KernelCollection.Name)]
public sealed class BenchSmokeTests
{
    /// <param name="generator">trafgen's skbs, or XDP frames from BPF_PROG_RUN's live mode (tools/bench/xdpgen.py).</param>
    /// <param name="topology">routed (a veth per sink), or link (the sinks on the client's veth, the proxy sending back out of it).</param>
    [Theory]
    [InlineData("trafgen", "routed")]
    [InlineData("xdp", "routed")]
    [InlineData("trafgen", "link")]
    public void Smoke_WritesAReportWithDeliveredDatagrams(string generator, string topology)
    {
        var root = ConfigLoaderTests.RepositoryRoot();
        var report = Path.Combine(Path.GetTempPath(), $"bench-smoke-{Guid.NewGuid():N}.md");
        try
        {
            Shell.Run($"cd {root} && /usr/bin/python3 tools/bench/bench.py --smoke --generator {generator} --topology {topology} --binary {Path.Combine(AppContext.BaseDirectory, "udp-fanout")} --out {report}");

            var text = File.ReadAllText(report);
            var row = text.Split('\n').First(l => l.StartsWith("| udp-fanout userspace (1 worker) |", StringComparison.Ordinal));
            Assert.Matches(@"\| [1-9]\d*k \(", row);
            Assert.Contains("## Share delivered at fixed offered rates", text);
            Assert.Contains($"One {generator} core generates", text);
            Assert.Contains(
                topology == "link" ? "forwards to three sink addresses that count at the client's ingress" : "forwards to three sink namespaces",
                text);
        }
        finally
        {
            File.Delete(report);
        }
    }

    /// <summary>
    /// The isolated measure puts the proxy on core 1: with trafgen by RPS, with the XDP generator by a NAPI thread of
    /// the proxy's veth pinned there. Either way datagrams must still arrive, or the row has no figure.
    /// </summary>
    [Theory]
    [InlineData("trafgen")]
    [InlineData("xdp")]
    public void Smoke_Isolated_ReportsCore1TimePerDeliveredDatagram(string generator)
    {
        var root = ConfigLoaderTests.RepositoryRoot();
        var report = Path.Combine(Path.GetTempPath(), $"bench-smoke-{Guid.NewGuid():N}.md");
        try
        {
            Shell.Run($"cd {root} && /usr/bin/python3 tools/bench/bench.py --smoke --generator {generator} --isolated --isolated-rates 20000 --isolated-count 20000 --binary {Path.Combine(AppContext.BaseDirectory, "udp-fanout")} --out {report}");

            var text = File.ReadAllText(report);
            var section = text[text.IndexOf("## Isolated measure", StringComparison.Ordinal)..];
            Assert.Contains(generator == "xdp" ? "NAPI thread of its own" : "rps_cpus", section);
            var row = section.Split('\n').First(l => l.StartsWith("| udp-fanout userspace (1 worker) | 20,000 |", StringComparison.Ordinal));
            Assert.Matches(@"\| \d+\.\d\d \|$", row);
            if (generator == "xdp")
            {
                // Flat out with the proxy on core 1 too, against the XDP drop measured the same way.
                var share = text[text.IndexOf("## Share of the XDP-drop baseline delivered flat out, the proxy on core 1", StringComparison.Ordinal)..];
                var shareRow = share.Split('\n').First(l => l.StartsWith("| udp-fanout userspace (1 worker) |", StringComparison.Ordinal));
                Assert.Matches(@"^\| udp-fanout userspace \(1 worker\) \| [1-9][\d,]* \(", shareRow);
            }
        }
        finally
        {
            File.Delete(report);
        }
    }
}
