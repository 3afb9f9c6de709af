using System.Diagnostics;
using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Hosting;

/// <summary>The command line as a user runs it: the built binary, its output and exit code.</summary>
public sealed class CommandLineTests
{
    [Fact]
    public void Check_ValidFile_PrintsOneLinePerListenerAndExitsZero()
    {
        var (code, output, _) = Run("check", "--config", Path.Combine(ConfigLoaderTests.RepositoryRoot(), "config.example.yaml"));

        Assert.Equal(0, code);
        Assert.Equal("listener syslog: userspace 0.0.0.0:5514, 2 downstream(s), 2 worker(s), batch 64, balance round_robin", output.Trim());
    }

    [Fact]
    public void Check_KubernetesListener_SaysWhichServiceFeedsIt()
    {
        var (code, output, _, _) = Check("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: [{ name: archive, address: "10.9.0.1:5514" }]
                kubernetes: { namespace: logging, service: vector-receivers, port_name: syslog }
            """);

        Assert.Equal(0, code);
        Assert.Equal("listener syslog: userspace 0.0.0.0:5514, 1 downstream(s) + the endpoints of service logging/vector-receivers (port named syslog), 1 worker(s), batch 64, balance round_robin", output.Trim());
    }

    [Fact]
    public void Check_SourceHashListener_NamesThePolicyAndItsKey()
    {
        var (code, output, _, _) = Check("""
            listeners:
              - name: flows
                bind: "0.0.0.0:2055"
                balance: source_hash
                downstream: [{ name: a, address: "10.9.0.1:2055", weight: 2 }]
            """);

        Assert.Equal(0, code);
        Assert.Equal("listener flows: userspace 0.0.0.0:2055, 1 downstream(s), 1 worker(s), batch 64, balance source_hash by source_ip", output.Trim());
    }

    [Fact]
    public void Check_BrokenFile_PrintsEveryErrorWithPositionAndExitsOne()
    {
        var (code, _, errors, file) = Check("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                workers: 0
                downstream: [{ name: a, address: "nowhere:1" }]
            """);

        Assert.Equal(1, code);
        Assert.Equal(
            [
                $"{file}:4:14: listeners[0].workers: 0 is out of range (1..256)",
                $"{file}:5:38: listeners[0].downstream[0].address: 'nowhere:1' is not an address:port such as \"10.0.0.1:5514\"",
                $"{file}: 2 error(s)",
            ],
            errors.Trim().Split('\n'));
    }

    [Fact]
    public void Check_DownstreamsThatReachThisHost_AreRefusedWithTheHostsOwnAddresses()
    {
        // A namespace whose only address besides loopback is 10.237.0.1/24, so the host is known exactly.
        using var ns = new NetworkNamespace($"ufchk{Environment.ProcessId % 10000:x}");
        ns.Exec("ip addr add 10.237.0.1/24 dev lo");
        var file = Path.GetTempFileName();
        File.WriteAllText(file, """
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream:
                  - { name: self, address: "10.237.0.1:5514" }
                  - { name: subnet, address: "10.237.0.255:5514" }
                  - { name: other-port, address: "10.237.0.1:6000" }
              - name: flows
                bind: "10.237.0.1:2055"
                mode: tc_ebpf
                interface: lo
                downstream: [{ name: local, address: "10.237.0.1:6000" }]
            """);
        try
        {
            var (code, output) = ns.TryExec($"{Path.Combine(AppContext.BaseDirectory, "udp-fanout")} check --config {file}");

            Assert.Equal(1, code);
            Assert.Equal(
                [
                    $"{file}:5:32: listeners[0].downstream[0].address: 10.237.0.1:5514 is an address of this host, and the listener receives on port 5514 of every local address (bind 0.0.0.0:5514): every datagram would come back into it (a forwarding loop)",
                    $"{file}:6:34: listeners[0].downstream[1].address: 10.237.0.255:5514 is the broadcast address of 10.237.0.0/24 on lo: every host of that subnet gets each datagram, this one included, instead of exactly one receiver",
                    $"{file}:12:42: listeners[1].downstream[0].address: 10.237.0.1:6000 is an address of this host: mode tc_ebpf routes each datagram with bpf_fib_lookup, which answers \"local\" for it, so every datagram would be dropped as no_route; use mode userspace or af_xdp to forward to a receiver on this host",
                    $"{file}: 3 error(s)",
                ],
                output.Trim().Split('\n'));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Version_PrintsTheVersion()
    {
        var (code, output, _) = Run("--version");

        Assert.Equal(0, code);
        Assert.Matches(@"^udp-fanout \d+\.\d+\.\d+$", output.Trim());
    }

    [Fact]
    public void UnknownArgument_ExitsTwoWithUsage()
    {
        var (code, _, errors) = Run("--frobnicate");

        Assert.Equal(2, code);
        Assert.StartsWith("udp-fanout: unknown argument '--frobnicate'", errors);
        Assert.Contains("usage: udp-fanout", errors);
    }

    [Fact]
    public void Run_UnknownListener_NamesTheListenersTheFileHas()
    {
        var (code, _, errors) = Run("--config", Path.Combine(ConfigLoaderTests.RepositoryRoot(), "config.example.yaml"), "--listener", "netflow");

        Assert.Equal(1, code);
        Assert.Contains("no listener named 'netflow' (the file has: syslog)", errors);
    }

    [Theory]
    [InlineData("NaN", 5, 26, "health.interval_secs: 'NaN' is not a number of seconds")]
    [InlineData("[[[[[[[[", 1, 0, "(yaml): nested deeper than")]
    public void Check_InputThatCrashedTheLoader_ExitsOneWithAPositionAndNoStackTrace(string value, int line, int column, string message)
    {
        // The second case repeats its brackets 100,000 times, which overflowed the stack (SIGSEGV).
        var text = value.StartsWith('[')
            ? "listeners: " + new string('[', 100_000)
            : $"""
                listeners:
                  - name: syslog
                    bind: "0.0.0.0:5514"
                    downstream: [{"{"} name: a, address: "10.0.0.1:6000" {"}"}]
                health: {"{"} interval_secs: {value} {"}"}
                """;

        var (code, output, errors, file) = Check(text);

        Assert.Equal(1, code);
        Assert.Equal("", output);
        var first = errors.Split('\n')[0];
        Assert.StartsWith(column > 0 ? $"{file}:{line}:{column}: " : $"{file}:{line}:", first);
        Assert.Contains(message, first);
        Assert.DoesNotContain("   at ", errors);
    }

    /// <summary>Runs <c>check</c> on <paramref name="yaml"/> written to a temporary file, which it names in the result.</summary>
    private static (int Code, string Output, string Errors, string File) Check(string yaml)
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, yaml);
        try
        {
            var (code, output, errors) = Run("check", "--config", file);
            return (code, output, errors, file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    internal static (int Code, string Output, string Errors) Run(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "udp-fanout"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(30_000), "udp-fanout did not exit");
        return (process.ExitCode, output.Result, errors.Result);
    }
}
