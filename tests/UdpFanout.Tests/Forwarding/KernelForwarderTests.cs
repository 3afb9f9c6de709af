using System.Net.Sockets;
using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding;

/// <summary>
/// What every eBPF mode must do, with its program attached for real on the proxy of a dual-stack network-namespace
/// testbed and real packets counted by ordinary sockets at the receivers (so a datagram with a bad checksum, which
/// the receiving kernel drops silently, shows as missing): each mode's test class inherits these and adds its own.
/// A test runs over IPv4 unless it starts with <see cref="UseFamily"/>: the cases the same in both families are
/// theories over "IPv4" and "IPv6", and IPv6's own (extension headers, neighbour discovery) take IPv6.
/// </summary>
[Collection(KernelCollection.Name)]
public abstract class KernelForwarderTests : IAsyncLifetime
{
    protected const int ListenPort = 5514;
    private protected readonly NetnsTestbed Bed;
    private protected readonly List<CountingReceiver> Receivers = [];
    private IListenerForwarder? _forwarder;

    protected KernelForwarderTests(string prefix, string network, int proxyRxQueues = 1) =>
        Bed = NetnsTestbed.Create(prefix, network, downstreams: 3, proxyRxQueues: proxyRxQueues, ipv6: "fd91");

    /// <summary>Whether this test runs over IPv6 (see <see cref="UseFamily"/>).</summary>
    private protected bool Ipv6 { get; private set; }

    private protected abstract ForwardingMode Mode { get; }

    /// <summary>tc_ebpf's <c>xdp:</c> for the test's listeners, in <see cref="Listener"/> and in the daemon's config alike.</summary>
    private protected virtual XdpLayer TcXdp => XdpLayer.Auto;

    private protected abstract IListenerForwarder Create(ListenerConfig listener);

    /// <summary>Datagrams the mode's program passed to the kernel, from its mode counters, by reason label.</summary>
    private protected abstract long PassedToStack(ListenerStats stats, string reason);

    /// <summary>The test seam of the forwarder's userspace fallback (see <see cref="InjectedFault"/>).</summary>
    private protected abstract InjectedFault FallbackFault(IListenerForwarder forwarder);

    /// <summary>The source address downstream <paramref name="index"/> sees in the test's family: the client's when the mode keeps it, else the proxy's.</summary>
    protected abstract IPAddress ExpectedSource(int index);

    /// <summary>The client's address in the test's family.</summary>
    protected IPAddress ClientAddress => Ipv6 ? Bed.ClientAddress6 : Bed.ClientAddress;

    /// <summary>The listener's address in the test's family.</summary>
    protected IPAddress ProxyAddress => Ipv6 ? Bed.ProxyAddress6 : Bed.ProxyAddress;

    public Task InitializeAsync()
    {
        AddReceivers();
        return Task.CompletedTask;
    }

    /// <summary>A receiver on each downstream, port 6000 + i, for the test's family.</summary>
    private void AddReceivers()
    {
        for (var i = 0; i < 3; i++)
        {
            Receivers.Add(Bed.Downstreams[i].Invoke(() => new CountingReceiver(Ipv6 ? IPAddress.IPv6Any : IPAddress.Any, 6000 + i)));
        }
    }

    public Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            Bed.Proxy.Invoke(() => _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        Receivers.ForEach(r => r.Dispose());
        Bed.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("IPv4", 100_000)]
    [InlineData("IPv6", 30_000)]
    public async Task Forward_NumberedDatagramsFromOnePort_EachArrivesOnceByteExactSpreadWithinOnePercent(string family, int count)
    {
        UseFamily(family);
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, count, seq => 16 + (int)(seq % 1400));

        var all = Receivers.SelectMany(r => r.Sequences).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), all);
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var counts = Receivers.Select(r => r.Count).ToArray();
        Assert.True(counts.Max() - counts.Min() <= count / 100, $"spread beyond 1%: {string.Join(",", counts)}");
        foreach (var (receiver, i) in Receivers.Select((r, i) => (r, i)))
        {
            Assert.All(receiver.Sources, s => Assert.Equal(ExpectedSource(i), s.Address));
        }
        var stats = forwarder.ReadStats();
        Assert.Equal((count, count), (stats.Received, stats.Forwarded));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        foreach (var (receiver, i) in Receivers.Select((r, i) => (r, i)))
        {
            Assert.Equal(receiver.Count, stats.Downstreams.Single(d => d.Downstream.Name == $"s{i}").Packets);
        }
    }

    [Fact]
    public async Task Stop_Twice_TheSecondDoesNothingAndTheFinalCountsStay()
    {
        // A stop path may reach a forwarder twice (a start that failed halfway, then the stop): a second stop once
        // freed the queue workers' native memory again and took the process down.
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();
        await SendPacedAsync(client, 300, _ => 64);
        Stop();
        var final = forwarder.ReadStats();

        Bed.Proxy.Invoke(() => forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());

        var again = forwarder.ReadStats();
        Assert.Equal((300L, 300L, 0L), (final.Received, final.Forwarded, final.DroppedTotal));
        Assert.Equal((final.Received, final.Forwarded, final.DroppedTotal), (again.Received, again.Forwarded, again.DroppedTotal));
    }

    [Fact]
    public async Task Forward_FramesFromAPacketRingSender_TakeTheFastPathNotTheFallback()
    {
        // trafgen sends from a PF_PACKET TX ring: the kernel builds skbs that hold only the Ethernet header in the
        // linear part and the rest in page fragments, as some NIC drivers do too. The program must still see them.
        var forwarder = Start(Downstreams(0, 1, 2));
        var payload = string.Join(", ", NumberedPayload.Create(7, 64).Select(b => $"0x{b:x2}"));
        var config = Path.Combine(Path.GetTempPath(), $"udp-fanout-trafgen-{Guid.NewGuid():N}.cfg");
        File.WriteAllText(config, $$"""
            {
              eth(da={{Bed.Proxy.Exec($"cat /sys/class/net/{Bed.ProxyIngress}/address").Trim()}}, sa={{Bed.Client.Exec($"cat /sys/class/net/{Bed.ClientInterface}/address").Trim()}}),
              ipv4(saddr={{Bed.ClientAddress}}, daddr={{Bed.ProxyAddress}}, ttl=64),
              udp(sport=40000, dport={{ListenPort}}),
              {{payload}}
            }
            """);
        try
        {
            // Paced: a veth whose peer runs XDP (the proxy's, with an XDP layer or af_xdp) pushes back once the peer's
            // ring of 256 frames is full, which trafgen's flush takes as an error. Sent one by one, the skbs still hold
            // only the Ethernet header in their linear part.
            Bed.Client.Exec($"trafgen --dev {Bed.ClientInterface} --conf {config} -n 3000 -q --gap 10us");
            await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) == 3000, "3000 datagrams at the receivers");

            var stats = forwarder.ReadStats();
            Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
            Assert.Equal(3000, stats.Forwarded);
            Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
            Assert.All(Receivers, r => Assert.InRange(r.Count, 900, 1100));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task Forward_8000ByteDatagramsFragmentedOnTheWire_ArriveWholeThroughTheFallback(string family)
    {
        UseFamily(family);
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();

        await SendPacedAsync(client, 30, _ => 8000, burst: 10);

        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((30L, 30L), (stats.Received, stats.Forwarded));
        // Only first fragments carry the UDP header the program matches; the rest pass without a look.
        Assert.Equal(30, PassedToStack(stats, "fragment"));
        Assert.Equal(30, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Forward_Ipv6DatagramsWithADestinationOptionsHeader_GoThroughTheFallback()
    {
        UseFamily("IPv6");
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();
        // A destination options header of 8 bytes holding one PadN option: the kernel puts it on every datagram.
        client.SetRawSocketOption(IPPROTO_IPV6, IPV6_DSTOPTS, new byte[] { 0, 0, 1, 4, 0, 0, 0, 0 });

        await SendPacedAsync(client, 50, _ => 64, burst: 10);

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.Equal(0, r.Corrupt));
        var stats = forwarder.ReadStats();
        Assert.Equal((50L, 50L), (stats.Received, stats.Forwarded));
        Assert.Equal(50, PassedToStack(stats, "extension_header"));
        Assert.Equal(50, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Forward_TheFallbackWorkerThrowsMidBatch_CountedAsARestartOfTheListenerAndTheFallbackGoesOn()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);
        await client.SendAsync(5, _ => 8000, burst: 1);

        // Fragmented on the wire, so each datagram takes the fallback, whose next batch throws as a bug would.
        FallbackFault(forwarder).Arm(new InvalidOperationException("a bug in the loop"));
        await client.SendAsync(25, _ => 8000, burst: 1);

        await Eventually.TrueAsync(() => forwarder.ReadStats() is var s && s.Forwarded + s.DroppedTotal == 30 && Receivers.Sum(r => r.Count) == s.Forwarded,
            "every datagram forwarded or dropped, and the forwarded ones at the receivers");
        var stats = forwarder.ReadStats();
        Assert.Equal((30L, 29L, 1L), (stats.Received, stats.Forwarded, stats.Dropped[(int)DropReason.WorkerFailed]));
        Assert.Equal(1, stats.ModeCounters.Single(c => c.Name == "worker_restarts_total").Value);
        var arrived = Receivers.SelectMany(r => r.Sequences).ToHashSet();
        Assert.Equal(29, arrived.Count);
        Assert.Contains(29L, arrived);
    }

    [Fact]
    public async Task Forward_DownstreamEchoesEveryDatagram_ListenerTakesInOnlyTheClients()
    {
        using var echo = Bed.Downstreams[0].Invoke(() => new UdpEcho(IPAddress.Any, 6300));
        var forwarder = Start([new Downstream("echo", new IPEndPoint(Bed.DownstreamAddress(0), 6300))]);
        using var client = ClientSocket();
        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);

        // Small datagrams take the mode's fast path; 8000-byte ones, fragmented on the wire, the fallback socket.
        for (var seq = 0; seq < 100; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, seq % 5 == 0 ? 8000 : 64), target);
            await Eventually.TrueAsync(() => echo.Echoed > seq, $"datagram {seq} echoed");
        }
        // Time for echoes that found their way back in to go round again.
        await Task.Delay(300);

        var stats = forwarder.ReadStats();
        Assert.Equal((100L, 100L, 100L), (stats.Received, stats.Forwarded, echo.Echoed));
    }

    [Fact]
    public async Task Forward_FallbackReceiveBufferOverflows_LostDatagramsCountAsReceivedAndDropped()
    {
        var forwarder = Start(Downstreams(0, 1, 2), Listener() with { RecvBufferBytes = 4096 });
        using var client = ClientSocket();
        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);

        // Fragmented on the wire, so each takes the fallback socket, and sent far faster than its worker reads them.
        var payload = new byte[8000];
        for (var seq = 0; seq < 200; seq++)
        {
            NumberedPayload.Write(payload, seq);
            client.SendTo(payload, target);
        }

        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 200, "every datagram sent counted as received");
        var stats = forwarder.ReadStats();
        await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) == stats.Forwarded, "the forwarded datagrams at the receivers");
        Assert.True(stats.Dropped[(int)DropReason.ReceiveBufferFull] > 0, "no receive-buffer drops: the test did not overflow the buffer");
        Assert.Equal(stats.Received, stats.Forwarded + stats.Dropped[(int)DropReason.ReceiveBufferFull]);
        Assert.Equal(Receivers.Sum(r => r.Count), stats.Forwarded);
        Assert.Equal(stats.Forwarded, Receivers.SelectMany(r => r.Sequences).Distinct().Count());
    }

    [Fact]
    public async Task Forward_EveryLossCauseAtOnce_ReceivedIsForwardedPlusDroppedAndTheReceiverGotItsShare()
    {
        var live = Downstreams(0)[0];
        var closed = ClosedDownstream();
        // The proxy has no route there: dropped as no_route in the kernel, as send_error from userspace.
        var unroutable = new Downstream("unroutable", new IPEndPoint(IPAddress.Parse("10.240.99.1"), 6000));
        var forwarder = Start([live, closed, unroutable]);
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

        // Small datagrams take the mode's fast path; every tenth, fragmented on the wire, takes the fallback socket.
        await client.SendAsync(1200, seq => seq % 10 == 0 ? 8000 : 64, burst: 20);

        var stats = forwarder.ReadStats();
        var toLive = stats.Downstreams.Single(d => d.Downstream == live).Packets;
        var toClosed = stats.Downstreams.Single(d => d.Downstream == closed).Packets;
        await Eventually.TrueAsync(() => Receivers[0].Count == toLive, "the live downstream's share at its receiver");
        Assert.Equal(1200, stats.Received);
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(stats.Forwarded, toLive + toClosed);
        Assert.Equal(stats.DroppedTotal, stats.Dropped[(int)DropReason.NoRoute] + stats.Dropped[(int)DropReason.SendError]);
        Assert.InRange(stats.DroppedTotal, 300, 500);
        Assert.Equal(toLive, Receivers[0].Sequences.Distinct().Count());
    }

    [Fact]
    public async Task Start_OtherTrafficToTheProxy_StillReachesItsStack()
    {
        Start(Downstreams(0));
        using var other = Bed.Proxy.Invoke(() => new CountingReceiver(IPAddress.Any, 7777));
        using var tcp = Bed.Proxy.Invoke(() =>
        {
            var listener = new TcpListener(IPAddress.Any, 7778);
            listener.Start();
            return new DisposableListener(listener);
        });
        Bed.Client.Exec("ip neigh flush all");

        var ping = Bed.Client.TryExec($"ping -c 2 -W 2 {Bed.ProxyAddress}");
        using var client = ClientSocket();
        client.SendTo(NumberedPayload.Create(42, 64), new IPEndPoint(Bed.ProxyAddress, 7777));
        using var connection = Bed.Client.Invoke(() => new TcpClient());
        await connection.ConnectAsync(Bed.ProxyAddress, 7778);

        Assert.True(ping.Code == 0, ping.Output);
        Assert.Contains("lladdr", Bed.Client.Exec($"ip neigh show {Bed.ProxyAddress}"));
        Assert.True(connection.Connected);
        await Eventually.TrueAsync(() => other.Count == 1, "a datagram to another port to reach the proxy's own socket");
        Assert.Equal(0, Receivers[0].Count);
    }

    [Fact]
    public async Task Start_NeighbourDiscoveryFromTheClient_IsStillAnswered()
    {
        UseFamily("IPv6");
        var forwarder = Start(Downstreams(0));
        Bed.Client.Exec("ip -6 neigh flush all");

        var ping = Bed.Client.TryExec($"ping -6 -c 2 -W 2 {Bed.ProxyAddress6}");
        using var client = ClientSocket();
        await SendPacedAsync(client, 10, _ => 64, burst: 10);

        Assert.True(ping.Code == 0, ping.Output);
        Assert.Contains("lladdr", Bed.Client.Exec($"ip -6 neigh show {Bed.ProxyAddress6}"));
        Assert.Equal(10, forwarder.ReadStats().Forwarded);
    }

    [Fact]
    public async Task UpdateDownstreams_WhileTrafficFlows_RemovedDownstreamGetsNothingSentAfterItReturns()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();
        long sentWhenUpdateReturned;
        await using (var traffic = new StreamingSender(client, new IPEndPoint(Bed.ProxyAddress, ListenPort)))
        {
            await Eventually.TrueAsync(() => Receivers[2].Count > 1000, "traffic at the third downstream");

            Bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new DownstreamSet(Downstreams(0, 1))));
            sentWhenUpdateReturned = traffic.Claimed;
            await Eventually.TrueAsync(() => Receivers[0].Count + Receivers[1].Count > sentWhenUpdateReturned * 2 / 3 + 10_000, "traffic after the update");
        }

        Assert.All(Receivers[2].Sequences, seq => Assert.True(seq < sentWhenUpdateReturned, $"datagram {seq}, sent after the update returned, reached the removed downstream"));
        Assert.Contains(Receivers[1].Sequences, seq => seq > sentWhenUpdateReturned);
    }

    [Fact]
    public async Task ForgetDownstreams_OneThatLeftAndOneStillInTheSet_OnlyTheOneThatLeftGoesFromTheStats()
    {
        var forwarder = Start(Downstreams(0, 1));
        using var client = ClientSocket();
        await SendPacedAsync(client, 100, _ => 64);
        Bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new DownstreamSet(Downstreams(0))));
        Assert.Equal(50, forwarder.ReadStats().Downstreams.Single(d => d.Downstream.Name == "s1").Packets);

        Bed.Proxy.Invoke(() => forwarder.ForgetDownstreams(Downstreams(0, 1)));

        var stats = forwarder.ReadStats();
        Assert.Equal([("s0", 50L)], stats.Downstreams.Select(d => (d.Downstream.Name, d.Packets)));
        Assert.Equal(100, stats.Forwarded);
    }

    [Fact]
    public void Start_MissingInterface_SaysWhichAndWhatToDo()
    {
        var forwarder = Create(Listener() with { Interface = "nosuch0" });

        var error = Assert.Throws<InvalidOperationException>(() => Bed.Proxy.Invoke(() =>
            forwarder.StartAsync(DownstreamSet.Empty, CancellationToken.None).GetAwaiter().GetResult()));

        Assert.IsType<ForwarderException>(error.InnerException);
        Assert.Equal("listener 'kernel': interface nosuch0 does not exist (`ip link` lists the interfaces; fix interface: in the config)", error.InnerException!.Message);
    }

    [Fact]
    public async Task Health_DownstreamStopsAnswering_LeavesTheRotationAndReturnsInThisModeToo()
    {
        var echoes = Bed.Downstreams.Select((ns, i) => ns.Invoke(() => new EchoingReceiver(IPAddress.Any, 7000 + i))).ToArray();
        var config = Path.Combine(Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");
        var downstreams = string.Concat(Enumerable.Range(0, 3).Select(i => $"\n      - {{ name: s{i}, address: \"{Bed.DownstreamAddress(i)}:{7000 + i}\" }}"));
        File.WriteAllText(config, DaemonConfig(
            $"    downstream:{downstreams}",
            "health: { enabled: true, protocol: udp_echo, interval_secs: 0.2, timeout_secs: 0.1, unhealthy_threshold: 3, healthy_threshold: 2 }"));
        try
        {
            using var daemon = new DaemonProcess(config, Bed.Proxy);
            daemon.WaitReady();
            using var client = DaemonClient(() => echoes.Sum(e => e.Sequences.Count));

            await client.SendAsync(300, _ => 64, burst: 300);
            echoes[2].Answering = false;
            // Three failed probes 0.2 s apart take it out; wait a little longer than that.
            await Task.Delay(1200);
            var sentWhenDown = client.Sent;
            await client.SendAsync(300, _ => 64, burst: 300);
            Assert.DoesNotContain(echoes[2].Sequences, seq => seq >= sentWhenDown);
            Assert.Equal(600, echoes.Sum(e => e.Sequences.Count));

            echoes[2].Answering = true;
            await Task.Delay(1000);
            var sentWhenUp = client.Sent;
            await client.SendAsync(300, _ => 64, burst: 300);
            Assert.Contains(echoes[2].Sequences, seq => seq >= sentWhenUp);
            Assert.Contains("is down after 3 failed probes", daemon.Output);
        }
        finally
        {
            File.Delete(config);
            foreach (var echo in echoes)
            {
                echo.Dispose();
            }
        }
    }

    [Fact]
    public async Task Discovery_PodsReplacedByWatchEvents_TrafficFollowsInThisModeToo()
    {
        // The API server listens on the proxy namespace's loopback, where the daemon runs.
        using var api = Bed.Proxy.Invoke(() => new FakeKubernetesApi());
        var pods = Bed.Downstreams.Select(ns => ns.Invoke(() => new CountingReceiver(IPAddress.Any, 6100))).ToArray();
        var directory = Directory.CreateTempSubdirectory("udp-fanout-k8s-").FullName;
        EndpointSliceJson.Pod Pod(int i) => new($"vector-{i}", Bed.DownstreamAddress(i).ToString());
        api.Apply(EndpointSliceJson.Slice("vector-abcde", "vector", [Pod(0), Pod(1)]));
        var config = Path.Combine(directory, "config.yaml");
        File.WriteAllText(config, DaemonConfig($"    kubernetes: {{ namespace: logging, service: vector, port: 6100, kubeconfig: {api.WriteKubeconfig(directory)} }}"));
        try
        {
            using var daemon = new DaemonProcess(config, Bed.Proxy);
            daemon.WaitReady();
            using var client = DaemonClient(() => pods.Sum(p => p.Count));

            await client.SendAsync(300, _ => 64, burst: 300);
            Assert.Equal(0, pods[2].Count);
            Assert.All(pods[..2], p => Assert.InRange(p.Count, 100, 200));
            var left = pods[0].Count;

            api.Apply(EndpointSliceJson.Slice("vector-abcde", "vector", [Pod(1), Pod(2)]));
            await Eventually.TrueAsync(() => daemon.Output.Contains($"vector-1 ({Bed.DownstreamAddress(1)}:6100), vector-2 ({Bed.DownstreamAddress(2)}:6100)"), "the new pods in the data path");
            await client.SendAsync(300, _ => 64, burst: 300);

            Assert.Equal(left, pods[0].Count);
            Assert.InRange(pods[2].Count, 100, 200);
            Assert.Equal(Enumerable.Range(0, 600).Select(i => (long)i), pods.SelectMany(p => p.Sequences).Order());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            foreach (var pod in pods)
            {
                pod.Dispose();
            }
        }
    }

    [Fact]
    public async Task Daemon_Sigterm_ReadsItsFinalCountsBeforeClosingTheMapsAndExitsZero()
    {
        using var config = new TempConfig(DaemonConfig(ThreeDownstreams()));
        using var client = DaemonClient(() => Receivers.Sum(r => r.Count));
        using var daemon = await StartDaemonForwarding300(config, client);

        daemon.Signal(DaemonProcess.SIGTERM);

        Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(5)), $"still running 5 s after SIGTERM:\n{daemon.Output}");
        Assert.True(daemon.ExitCode == 0, $"exit code {daemon.ExitCode}:\n{daemon.Output}");
        Assert.True(daemon.Output.Contains("listener kernel stopped"), daemon.Output);
        Assert.DoesNotContain("fail:", daemon.Output);
        Assert.DoesNotContain("crit:", daemon.Output);
        Assert.DoesNotContain("Exception", daemon.Output);
    }

    [Fact]
    public async Task Daemon_ReloadMovesTheBind_TheListenerRestartsAndForwardsOnTheNewPort()
    {
        using var config = new TempConfig(DaemonConfig(ThreeDownstreams()));
        using var client = DaemonClient(() => Receivers.Sum(r => r.Count));
        using var daemon = await StartDaemonForwarding300(config, client);

        config.Write(DaemonConfig(ThreeDownstreams(), port: ListenPort + 1));
        Reload(daemon);
        using var moved = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort + 1), () => Receivers.Sum(r => r.Count) - 300);
        await moved.SendAsync(300, _ => 64, burst: 300);

        Assert.Equal(600, Receivers.Sum(r => r.Count));
        await daemon.WaitForOutputAsync("reload applied");
        Assert.DoesNotContain("fail:", daemon.Output);
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task Daemon_ReloadToAnInterfaceThatCannotTakeTheProgram_RollsBackAndKeepsForwarding()
    {
        using var config = new TempConfig(DaemonConfig(ThreeDownstreams()));
        using var client = DaemonClient(() => Receivers.Sum(r => r.Count));
        using var daemon = await StartDaemonForwarding300(config, client);

        config.Write(DaemonConfig(ThreeDownstreams(), iface: "nosuch0"));
        Reload(daemon);
        await client.SendAsync(300, _ => 64, burst: 300);

        Assert.Equal(Enumerable.Range(0, 600).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        await daemon.WaitForOutputAsync($"it runs again with its previous ones: mode {Mode.YamlName()}, bind {Bed.ProxyAddress}:{ListenPort}");
        await daemon.WaitForOutputAsync("interface nosuch0 does not exist");
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task Daemon_Ipv6ListenerAndDownstreamsInTheConfig_AcceptedAndForwarded()
    {
        UseFamily("IPv6");
        var downstreams = string.Concat(Enumerable.Range(0, 3).Select(i => $"\n      - {{ name: s{i}, address: \"[{Bed.DownstreamAddress6(i)}]:{6000 + i}\" }}"));
        using var config = new TempConfig($$"""
            listeners:
              - name: kernel6
                bind: "[{{Bed.ProxyAddress6}}]:{{ListenPort}}"
                mode: {{Mode.YamlName()}}
                interface: {{Bed.ProxyIngress}}{{XdpLine}}
                downstream:{{downstreams}}
            metrics: { enabled: false }
            """);
        using var daemon = new DaemonProcess(config.Path, Bed.Proxy);
        daemon.WaitReady();
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress6, ListenPort), () => Receivers.Sum(r => r.Count));

        await client.SendAsync(300, _ => 64, burst: 300);

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), Receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers, r => Assert.InRange(r.Count, 50, 150));
        Assert.DoesNotContain("fail:", daemon.Output);
    }

    /// <summary>
    /// A listener on [::] with an IPv4 downstream "v4" (a receiver on downstream 0, port 6100, added to
    /// <see cref="Receivers"/> as the fourth) and the IPv6 downstreams s1 and s2, then 300 numbered datagrams from
    /// an IPv4 client (0 to 299) and 300 from an IPv6 client (1000 to 1299), all of them at the receivers.
    /// </summary>
    private protected async Task<IListenerForwarder> ForwardBothFamiliesThroughAnIpv6AnyListenerAsync()
    {
        UseFamily("IPv6");
        Receivers.Add(Bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, 6100)));
        Downstream[] set = [new("v4", new IPEndPoint(Bed.DownstreamAddress(0), 6100)), .. Downstreams(1, 2)];
        var forwarder = Start(set, Listener(IPAddress.IPv6Any));
        using var client4 = ClientSocket(AddressFamily.InterNetwork);
        using var client6 = ClientSocket();

        await SendPacedAsync(client4, 300, _ => 64, burst: 100, to: Bed.ProxyAddress);
        await SendPacedAsync(client6, 300, _ => 64, burst: 100, first: 1000);
        return forwarder;
    }

    /// <summary>
    /// The first step of a test that takes <paramref name="family"/> ("IPv4", the default, or "IPv6"): the
    /// receivers, listener, downstreams and client sockets of the helpers below are then on that side of the testbed.
    /// </summary>
    private protected void UseFamily(string family)
    {
        Ipv6 = family switch { "IPv4" => false, "IPv6" => true, _ => throw new ArgumentOutOfRangeException(nameof(family), family, "IPv4 or IPv6") };
        if (Ipv6)
        {
            Receivers.ForEach(r => r.Dispose());
            Receivers.Clear();
            AddReceivers();
        }
    }

    /// <summary>
    /// The daemon in the proxy namespace on <paramref name="config"/>, once <paramref name="client"/>'s first 300
    /// numbered datagrams went through it.
    /// </summary>
    private async Task<DaemonProcess> StartDaemonForwarding300(TempConfig config, PacedSender client)
    {
        var daemon = new DaemonProcess(config.Path, Bed.Proxy);
        daemon.WaitReady();
        await client.SendAsync(300, _ => 64, burst: 300);
        return daemon;
    }

    private static void Reload(DaemonProcess daemon)
    {
        daemon.Signal(DaemonProcess.SIGHUP);
        daemon.WaitForState("RELOADING=1");
        daemon.WaitForState("READY=1");
    }

    /// <summary>The downstream lines of a config for the three receivers of the testbed.</summary>
    private string ThreeDownstreams() =>
        "    downstream:" + string.Concat(Enumerable.Range(0, 3).Select(i => $"\n      - {{ name: s{i}, address: \"{Bed.DownstreamAddress(i)}:{6000 + i}\" }}"));

    /// <summary>
    /// Downstream 2's address on a port nothing listens on; its namespace answers every datagram with an ICMP port
    /// unreachable (the kernel's ICMP rate limit lifted there).
    /// </summary>
    private protected Downstream ClosedDownstream()
    {
        Bed.Downstreams[2].Exec("sysctl -qw net.ipv4.icmp_ratemask=0");
        return new Downstream("closed", new IPEndPoint(Bed.DownstreamAddress(2), 6999));
    }

    private protected static long IcmpErrors(IListenerForwarder forwarder, Downstream downstream, IcmpError type) =>
        forwarder.ReadStats().IcmpErrors.Where(e => e.Downstream == downstream && e.Type == type).Sum(e => e.Count);

    /// <summary>
    /// A config for the daemon run in the proxy namespace: one listener of this mode on the testbed, with
    /// <paramref name="downstreams"/> (its downstream or kubernetes lines) and <paramref name="global"/> sections.
    /// </summary>
    private protected string DaemonConfig(string downstreams, string global = "", int port = ListenPort, string? iface = null) => $$"""
        listeners:
          - name: kernel
            bind: "{{Bed.ProxyAddress}}:{{port}}"
            mode: {{Mode.YamlName()}}
            interface: {{iface ?? Bed.ProxyIngress}}{{XdpLine}}
        {{downstreams}}
        {{global}}
        metrics: { enabled: false }
        """;

    /// <summary>
    /// The listener's <c>xdp:</c> line in a daemon's config, after its interface line, unless <see cref="TcXdp"/> is
    /// the default: nothing then, so the lines of the rest stay where errors name them.
    /// </summary>
    private string XdpLine => TcXdp == XdpLayer.Auto ? "" : $"\n    xdp: {TcXdp.YamlName()}";

    /// <summary>Numbered 64-byte datagrams from the client namespace to the daemon's listener, paced by <paramref name="arrived"/>.</summary>
    private PacedSender DaemonClient(Func<long> arrived) =>
        new(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), arrived);

    private protected IListenerForwarder Start(Downstream[] downstreams, ListenerConfig? listener = null)
    {
        _forwarder = Bed.Proxy.Invoke(() =>
        {
            var forwarder = Create(listener ?? Listener());
            forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
            return forwarder;
        });
        return _forwarder;
    }

    /// <summary>Stops the forwarder now (inside the proxy namespace, where it attached), not at the end of the test.</summary>
    private protected void Stop()
    {
        Bed.Proxy.Invoke(() => _forwarder!.DisposeAsync().AsTask().GetAwaiter().GetResult());
        _forwarder = null;
    }

    /// <summary>The test's listener, on the proxy's address of its family unless <paramref name="bind"/> says otherwise.</summary>
    private protected ListenerConfig Listener(IPAddress? bind = null) => new()
    {
        Name = "kernel",
        Bind = new IPEndPoint(bind ?? ProxyAddress, ListenPort),
        Mode = Mode,
        Interface = Bed.ProxyIngress,
        Xdp = TcXdp,
    };

    /// <summary>Downstreams on the testbed's receivers, in the test's family.</summary>
    private protected Downstream[] Downstreams(params int[] indexes) =>
        indexes.Select(i => new Downstream($"s{i}", new IPEndPoint(Ipv6 ? Bed.DownstreamAddress6(i) : Bed.DownstreamAddress(i), 6000 + i))).ToArray();

    /// <summary>A client socket in the client namespace, in the test's family or the one <paramref name="family"/> names.</summary>
    /// <summary>
    /// Sends <paramref name="count"/> numbered IPv6 datagrams to the listener with a hop limit of 64, whatever the
    /// namespace's default; returns each one's sequence and the hop limit it arrived with, in sequence order.
    /// </summary>
    private protected IEnumerable<(long Sequence, int HopLimit)> SendIpv6WithHopLimit64(HopLimitReceiver receiver, int count = 20)
    {
        using var client = ClientSocket();
        // IPV6_UNICAST_HOPS (16 at level IPPROTO_IPV6).
        client.SetRawSocketOption(41, 16, BitConverter.GetBytes(64));
        for (var seq = 0; seq < count; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(Bed.ProxyAddress6, ListenPort));
        }
        return receiver.Receive(count).OrderBy(r => r.Sequence);
    }

    protected Socket ClientSocket(AddressFamily? family = null) => Bed.Client.Invoke(() =>
    {
        var ipv6 = family is null ? Ipv6 : family == AddressFamily.InterNetworkV6;
        var socket = new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(ipv6 ? Bed.ClientAddress6 : Bed.ClientAddress, 0));
        return socket;
    });

    /// <summary>
    /// Sends in bursts, each waiting for the receivers to catch up, so the test measures delivery, not overflow:
    /// numbers <paramref name="first"/> onwards, to the listener's address in the test's family unless <paramref name="to"/> says otherwise.
    /// </summary>
    protected async Task SendPacedAsync(Socket client, long count, Func<long, int> lengthOf, int burst = 1000, long first = 0, IPAddress? to = null)
    {
        var target = new IPEndPoint(to ?? ProxyAddress, ListenPort);
        var buffer = new byte[65507];
        var start = Receivers.Sum(r => r.Count);
        for (var seq = first; seq < first + count;)
        {
            var end = Math.Min(first + count, seq + burst);
            for (; seq < end; seq++)
            {
                var payload = buffer.AsSpan(0, lengthOf(seq));
                NumberedPayload.Write(payload, seq);
                client.SendTo(payload, SocketFlags.None, target);
            }
            var expected = start + end - first;
            await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers");
        }
    }

    private const int IPPROTO_IPV6 = 41;
    private const int IPV6_DSTOPTS = 59;

    private sealed class DisposableListener(TcpListener listener) : IDisposable
    {
        public void Dispose() => listener.Stop();
    }
}
