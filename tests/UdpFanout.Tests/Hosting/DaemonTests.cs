using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Hosting;

/// <summary>The real binary, run as systemd runs it: a config file, the notify socket, signals.</summary>
[Collection(KernelCollection.Name)]
public sealed class DaemonTests : IDisposable
{
    private readonly string _config = Path.Combine(Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");
    private readonly List<CountingReceiver> _receivers = [.. Enumerable.Range(0, 3).Select(_ => new CountingReceiver())];
    private readonly IPEndPoint _bind = LoopbackPorts.FreeUdp();
    private readonly int _metricsPort = LoopbackPorts.FreeTcp();
    // What WriteConfig puts in bind and metrics.bind; tests that move them change these.
    private int _configuredMetricsPort;
    private IPEndPoint _configuredBind;

    public DaemonTests() => (_configuredMetricsPort, _configuredBind) = (_metricsPort, _bind);

    public void Dispose()
    {
        _receivers.ForEach(r => r.Dispose());
        File.Delete(_config);
    }

    [Fact]
    public void Run_Sigterm_StopsWithinTwoSeconds()
    {
        WriteConfig(0, 1, 2);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();

        var stopwatch = Stopwatch.StartNew();
        daemon.Signal(DaemonProcess.SIGTERM);

        Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(2)), $"still running 2 s after SIGTERM:\n{daemon.Output}");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2));
        Assert.Equal(0, daemon.ExitCode);
    }

    [Fact]
    public async Task Reload_TwentyTimesWhileTrafficFlows_EveryDatagramArrivesOnceAndIsAccounted()
    {
        WriteConfig(0, 1, 2);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();
        using var client = new PacedSender(_bind, () => (long)Scrape().Result.Sum("udp_fanout_packets_received_total"));
        var sets = new[] { new[] { 0, 1 }, [1, 2], [2], [0, 1, 2], [0] };

        var traffic = client.SendAsync(200_000, seq => 32 + (int)(seq % 200), burst: 2000);
        for (var reload = 0; reload < 20; reload++)
        {
            await Task.Delay(40);
            WriteConfig(sets[reload % sets.Length]);
            daemon.Signal(DaemonProcess.SIGHUP);
            daemon.WaitForState("RELOADING=1");
            daemon.WaitForState("READY=1");
        }
        await traffic;
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 200_000, "every datagram at a receiver");

        var metrics = await Scrape();
        Assert.Equal(200_000, metrics.Sum("udp_fanout_packets_received_total"));
        Assert.Equal(200_000, metrics.Sum("udp_fanout_packets_forwarded_total"));
        Assert.Equal(0, metrics.Sum("udp_fanout_packets_dropped_total"));
        Assert.Equal(20, metrics["udp_fanout_config_reloads_total{result=\"success\"}"]);
        Assert.Equal(Enumerable.Range(0, 200_000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
    }

    [Fact]
    public async Task Reload_BrokenConfig_KeepsTheRunningConfigAndLogsEveryError()
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();

        File.WriteAllText(_config, $"""
            listeners:
              - name: test
                bind: "{_bind}"
                mode: userspace
                workers: 0
                downstream:
                  - name: r1
                    address: "not-an-address"
            metrics: {"{"} enabled: true, bind: "127.0.0.1:{_metricsPort}" {"}"}
            """);
        await ReloadRefusedThenSend100(daemon);

        Assert.Contains($"{_config}:5:", daemon.Output);
        Assert.Contains($"{_config}:8:", daemon.Output);
        Assert.Equal(1, (await Scrape())["udp_fanout_config_reloads_total{result=\"failure\"}"]);
        Assert.False(daemon.HasExited);
    }

    [Theory]
    [InlineData("health: { interval_secs: NaN }", "health.interval_secs: 'NaN' is not a number of seconds")]
    [InlineData("nested", "(yaml): nested deeper than")]
    public async Task Reload_ConfigThatCrashedTheLoader_IsLoggedCountedAndTheOldConfigKeepsForwarding(string tail, string message)
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();

        // "nested" stands for 100,000 nested lists, which overflowed the stack and killed the daemon.
        File.AppendAllText(_config, tail == "nested" ? "\ntuning: " + new string('[', 100_000) + "\n" : "\n" + tail + "\n");
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");
        using var client = new PacedSender(_bind, () => _receivers[0].Count);
        await client.SendAsync(100, _ => 64, burst: 100);

        Assert.Equal(100, _receivers[0].Count);
        await daemon.WaitForOutputAsync($"fail: UdpFanout.Hosting.ReloadService");
        await daemon.WaitForOutputAsync(message);
        Assert.Equal(1, (await Scrape())["udp_fanout_config_reloads_total{result=\"failure\"}"]);
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task OutOfFileDescriptors_ProbesGoOnOverTheirOpenSocketTheMetricsServerWaitsAndBothRecover()
    {
        using var echo = new EchoingReceiver();
        var text = $"""
            listeners:
              - name: test
                bind: "{_bind}"
                downstream: [{"{"} name: r0, address: "{echo.Endpoint}" {"}"}]
            health: {"{"} enabled: true, protocol: udp_echo, interval_secs: 0.2, timeout_secs: 0.1, unhealthy_threshold: 3, healthy_threshold: 2 {"}"}
            metrics: {"{"} enabled: true, bind: "127.0.0.1:{_metricsPort}" {"}"}
            """;
        File.WriteAllText(_config, text);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();
        using var client = new PacedSender(_bind, () => echo.Sequences.Count);
        await client.SendAsync(50, _ => 64, burst: 50);

        // No descriptor left: a soft limit below what the daemon holds, whose open sockets stay.
        var soft = Shell.Run($"prlimit --pid {daemon.Pid} --nofile --noheadings --output SOFT").Trim();
        Shell.Run($"prlimit --pid {daemon.Pid} --nofile=8:");
        // The kernel queues a scrape's connection, which the metrics server cannot accept yet.
        var scrape = Scrape();
        await daemon.WaitForOutputAsync("metrics: accepting connections fails: Too many open files");
        // Probes need no new descriptor: the checker's one socket stays open, so r0 stays up for many intervals.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Shell.Run($"prlimit --pid {daemon.Pid} --nofile={soft}:");
        Assert.Equal(1, (await scrape).Sum("udp_fanout_build_info"));
        await client.SendAsync(50, _ => 64, burst: 50);

        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), echo.Sequences);
        Assert.DoesNotContain("is down after", daemon.Output);
        Assert.DoesNotContain("cannot probe downstreams", daemon.Output);
        var metrics = await Scrape();
        Assert.Equal(0, metrics["udp_fanout_health_probe_errors_total{listener=\"test\",mode=\"userspace\"}"]);
        Assert.Equal(1, metrics["udp_fanout_downstream_up{listener=\"test\",mode=\"userspace\",downstream=\"r0\",address=\"" + echo.Endpoint + "\"}"]);
    }

    [Fact]
    public async Task Reload_BindMovedToABusyPort_TheListenerKeepsForwardingOnItsOldBindAndTheFailureIsCounted()
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();
        // Held without SO_REUSEPORT, as another program would: the daemon cannot bind it.
        using var busy = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        busy.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        _configuredBind = (IPEndPoint)busy.LocalEndPoint!;
        WriteConfig(0);
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");
        using var client = new PacedSender(_bind, () => _receivers[0].Count);
        await client.SendAsync(10, _ => 64, burst: 10);

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), _receivers[0].Sequences);
        var metrics = await Scrape();
        Assert.Equal(1, metrics["udp_fanout_config_reloads_total{result=\"failure\"}"]);
        Assert.Equal(10, metrics.Sum("udp_fanout_packets_forwarded_total"));
        await daemon.WaitForOutputAsync($"fail: UdpFanout.Hosting.ListenerSupervisor");
        await daemon.WaitForOutputAsync($"listener test: cannot restart with its new settings (listener 'test': UDP port {_configuredBind.Port} is already in use by process {Environment.ProcessId}");
        await daemon.WaitForOutputAsync($"it runs again with its previous ones: mode userspace, bind {_bind}");
        Assert.DoesNotContain("reload applied", daemon.Output);

        // The next reload that can bind moves it.
        busy.Dispose();
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");
        using var moved = new PacedSender(_configuredBind, () => _receivers[0].Count - 10);
        await moved.SendAsync(10, _ => 64, burst: 10);
        Assert.Equal(20, _receivers[0].Count);
    }

    [Fact]
    public async Task Run_DownstreamPortClosed_MetricsCountEachIcmpPortUnreachableBesideTheForwarded()
    {
        // A namespace of its own, where the kernel's ICMP rate limit can be lifted so that every datagram draws one.
        using var ns = new NetworkNamespace($"ufa-dicmp-{Environment.ProcessId % 10000:x}");
        ns.Exec("sysctl -qw net.ipv4.icmp_ratemask=0");
        using var alive = ns.Invoke(() => new CountingReceiver());
        File.WriteAllText(_config, $"""
            listeners:
              - name: test
                bind: "{_bind}"
                mode: userspace
                downstream:
                  - {"{"} name: closed, address: "127.0.0.1:{_bind.Port + 1}" {"}"}
                  - {"{"} name: alive, address: "{alive.Endpoint}" {"}"}
            metrics: {"{"} enabled: true, bind: "127.0.0.1:{_metricsPort}" {"}"}
            """);
        using var daemon = new DaemonProcess(_config, ns);
        daemon.WaitReady();
        using var client = new PacedSender(ns.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)), _bind, () => alive.Count * 2);

        await client.SendAsync(200, _ => 64, burst: 10);

        var series = $"udp_fanout_downstream_icmp_errors_total{{listener=\"test\",mode=\"userspace\",downstream=\"closed\",address=\"127.0.0.1:{_bind.Port + 1}\",type=\"port_unreachable\"}}";
        await Eventually.TrueAsync(() => MetricsScrape.FromAsync(ns, _metricsPort).GetAwaiter().GetResult()[series] == 100, "100 port unreachable errors in the metrics");
        var metrics = await MetricsScrape.FromAsync(ns, _metricsPort);
        Assert.Equal(200, metrics.Sum("udp_fanout_packets_forwarded_total"));
        Assert.Equal(100, metrics.Sum("udp_fanout_downstream_packets_forwarded_total", "downstream=\"closed\""));
        Assert.Equal(0, metrics.Sum("udp_fanout_downstream_icmp_errors_total", "downstream=\"alive\""));
        Assert.Equal(100, alive.Count);
    }

    [Fact]
    public void Run_BrokenConfig_RefusesToStartNamingFileLineAndField()
    {
        File.WriteAllText(_config, """
            listeners:
              - name: test
                bind: "127.0.0.1:70000"
                downstream: []
            """);
        using var daemon = new DaemonProcess(_config);

        Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, daemon.ExitCode);
        Assert.Contains($"{_config}:3:", daemon.Output);
        Assert.Contains("listeners[0].bind", daemon.Output);
    }

    [Fact]
    public async Task Run_ASecondDaemonOnTheSamePort_RefusesNamingThePortAndTheFirst()
    {
        WriteConfig(0);
        using var first = new DaemonProcess(_config);
        first.WaitReady();
        var second = Path.Combine(Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(second, $$"""
            listeners:
              - { name: test, bind: "0.0.0.0:{{_bind.Port}}", downstream: [{ name: r1, address: "{{_receivers[1].Endpoint}}" }] }
            metrics: { enabled: false }
            """);
        try
        {
            using var daemon = new DaemonProcess(second);

            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(10)), daemon.Output);
            Assert.Equal(1, daemon.ExitCode);
            Assert.Contains($"udp-fanout: listener 'test': UDP port {_bind.Port} is already in use by process {first.Pid} (udp-fanout) (bound to {_bind}): two programs on one port would split its datagrams between them; stop the other program or give this listener another port in bind",
                daemon.Output);
            using var client = new PacedSender(_bind, () => (long)Scrape().Result.Sum("udp_fanout_packets_received_total"));
            await client.SendAsync(100, _ => 64, burst: 100);
            await Eventually.TrueAsync(() => _receivers[0].Count == 100, "the first daemon to keep all the traffic");
            Assert.Equal(0, _receivers[1].Count);
        }
        finally
        {
            File.Delete(second);
        }
    }

    [Fact]
    public async Task Reload_ADownstreamThatLoopsBack_IsRefusedAndTheRunningConfigStays()
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();

        File.WriteAllText(_config, $"""
            listeners:
              - name: test
                bind: "{_bind}"
                downstream:
                  - name: r0
                    address: "{_receivers[0].Endpoint}"
                  - name: self
                    address: "{_bind}"
            metrics: {"{"} enabled: true, bind: "127.0.0.1:{_metricsPort}" {"}"}
            """);
        await ReloadRefusedThenSend100(daemon);

        Assert.Contains($"{_config}:8:18: listeners[0].downstream[1].address: {_bind} is this listener's own bind: every datagram would come back into the listener (a forwarding loop)", daemon.Output);
        var metrics = await Scrape();
        Assert.Equal(1, metrics["udp_fanout_config_reloads_total{result=\"failure\"}"]);
        Assert.Equal(100, metrics.Sum("udp_fanout_packets_received_total"));
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task Metrics_AskedForByHostName_Answers()
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        var text = await http.GetStringAsync($"http://localhost:{_metricsPort}/metrics");

        Assert.Contains("udp_fanout_build_info", text);
    }

    [Fact]
    public async Task Metrics_PortInUseAtStart_ForwardingRunsAndMetricsComeOnceThePortIsFree()
    {
        WriteConfig(0);
        var holder = new TcpListener(IPAddress.Loopback, _metricsPort);
        holder.Start();
        try
        {
            using var daemon = new DaemonProcess(_config);
            daemon.WaitReady();
            using var client = new PacedSender(_bind, () => _receivers[0].Count);

            await client.SendAsync(100, _ => 64, burst: 100);

            Assert.Equal(100, _receivers[0].Count);
            await daemon.WaitForOutputAsync($"fail: UdpFanout.Metrics.MetricsService");
            await daemon.WaitForOutputAsync($"metrics: cannot listen on 127.0.0.1:{_metricsPort}");
            holder.Stop();
            await Eventually.TrueAsync(() => daemon.Output.Contains($"metrics on http://127.0.0.1:{_metricsPort}/metrics"), "the metrics endpoint to bind once the port is free", 15);
            Assert.Equal(100, (await Scrape()).Sum("udp_fanout_packets_forwarded_total"));
            Assert.False(daemon.HasExited);
        }
        finally
        {
            holder.Stop();
        }
    }

    [Fact]
    public async Task Reload_MetricsBindMoved_TheNewPortServesAndTheOldOneIsClosed()
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();
        var moved = LoopbackPorts.FreeTcp();

        _configuredMetricsPort = moved;
        WriteConfig(0);
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");

        var metrics = await MetricsScrape.FromAsync(moved);
        Assert.Equal(1, metrics["udp_fanout_config_reloads_total{result=\"success\"}"]);
        await Assert.ThrowsAsync<HttpRequestException>(Scrape);
    }

    [Fact]
    public async Task Reload_MetricsBindToABusyPort_IsRefusedAndCountedAndTheOldPortKeepsServing()
    {
        WriteConfig(0);
        using var daemon = new DaemonProcess(_config);
        daemon.WaitReady();
        var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            _configuredMetricsPort = ((IPEndPoint)busy.LocalEndpoint).Port;
            WriteConfig(0);
            daemon.Signal(DaemonProcess.SIGHUP);
            daemon.WaitForState("RELOADING=1");
            daemon.WaitForState("READY=1");

            var metrics = await Scrape();
            Assert.Equal(1, metrics["udp_fanout_config_reloads_total{result=\"failure\"}"]);
            Assert.Equal(0, metrics["udp_fanout_config_reloads_total{result=\"success\"}"]);
            await daemon.WaitForOutputAsync($"metrics: cannot listen on 127.0.0.1:{_configuredMetricsPort}");
            await daemon.WaitForOutputAsync($"the metrics endpoint stays on 127.0.0.1:{_metricsPort}");
            Assert.DoesNotContain("reload applied", daemon.Output);
        }
        finally
        {
            busy.Stop();
        }
    }

    /// <summary>SIGHUPs <paramref name="daemon"/> after a config it must refuse, then proves the old config still forwards.</summary>
    private async Task ReloadRefusedThenSend100(DaemonProcess daemon)
    {
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");
        using var client = new PacedSender(_bind, () => (long)Scrape().Result.Sum("udp_fanout_packets_received_total"));
        await client.SendAsync(100, _ => 64, burst: 100);
        await Eventually.TrueAsync(() => _receivers[0].Count == 100, "the old config's downstream to get the traffic");
    }

    private Task<MetricsScrape> Scrape() => MetricsScrape.FromAsync(_metricsPort);

    private void WriteConfig(params int[] downstreams)
    {
        var entries = string.Concat(downstreams.Select(i => $"""

                  - name: r{i}
                    address: "{_receivers[i].Endpoint}"
            """));
        var text = $"""
            listeners:
              - name: test
                bind: "{_configuredBind}"
                mode: userspace
                workers: 2
                downstream:{entries}
            metrics:
              enabled: true
              bind: "127.0.0.1:{_configuredMetricsPort}"
            """;
        // Written whole and renamed, as an editor or config manager would, so a reload never reads half a file.
        File.WriteAllText(_config + ".tmp", text);
        File.Move(_config + ".tmp", _config, overwrite: true);
    }
}
