using System.Net.Sockets;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Bpf;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Forwarding;
using UdpFanout.Model;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.TcEbpf;

/// <summary>
/// The tc program attached for real: the shared data-path tests and what only a router in the kernel does (the
/// hop limit, each family to its own downstreams, the other family's through the fallback), the classic tc
/// filter's lifecycle (what kernels before 6.6 get), then the tcx link's: attached, shared, kept across a restart,
/// taken over and detached.
/// </summary>
public sealed class TcEbpfForwarderTests() : KernelForwarderTests("uft", "10.201")
{
    private protected override ForwardingMode Mode => ForwardingMode.TcEbpf;

    protected override IPAddress ExpectedSource(int index) => ClientAddress;

    private protected override IListenerForwarder Create(ListenerConfig listener) =>
        new TcEbpfForwarder(listener, NullLoggerFactory.Instance, FileDescriptorStores.None(), tcxLinks: false);

    private protected override InjectedFault FallbackFault(IListenerForwarder forwarder) => ((TcEbpfForwarder)forwarder).FallbackFault;

    private protected override long PassedToStack(ListenerStats stats, string reason) =>
        stats.ModeCounters.Single(c => c.Name == "tc_passed_to_stack_total" && c.Labels![0].Value == reason).Value;

    [Fact]
    public async Task Forward_NextHopThatNeverAnswers_CountsAsForwardedAndAsUnresolved()
    {
        // On downstream 0's network, where no host has the address: ARP for it goes unanswered.
        var absent = new Downstream("absent", new IPEndPoint(IPAddress.Parse($"{Bed.Network}.11.99"), 6000));
        var forwarder = Start([absent]);
        using var client = new PacedSender(ClientSocket(), new IPEndPoint(Bed.ProxyAddress, ListenPort), () => forwarder.ReadStats().Received);

        await client.SendAsync(5, _ => 64, burst: 1);

        var stats = forwarder.ReadStats();
        Assert.Equal((5L, 5L), (stats.Received, stats.Forwarded));
        Assert.Equal(5, stats.ModeCounters.Single(c => c.Name == "tc_forwarded_neighbour_unresolved_total").Value);
        var neighbour = Bed.Proxy.Exec($"ip neigh show {Bed.Network}.11.99");
        Assert.True(neighbour.Contains("INCOMPLETE") || neighbour.Contains("FAILED"), $"the next hop resolved: {neighbour}");
    }

    [Fact]
    public void Dispose_DetachesAndRemovesTheQdiscItCreated()
    {
        Start(Downstreams(0));
        Assert.Contains("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));

        Stop();

        Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        Assert.DoesNotContain("clsact", Bed.Proxy.Exec($"tc qdisc show dev {Bed.ProxyIngress}"));
    }

    [Fact]
    public void Start_AfterACrashLeftAProgramAttached_ReplacesItInsteadOfStacking()
    {
        Start(Downstreams(0));
        var second = Bed.Proxy.Invoke(() =>
        {
            var f = Create(Listener());
            f.StartAsync(new DownstreamSet(Downstreams(1)), CancellationToken.None).GetAwaiter().GetResult();
            return f;
        });

        var filters = Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress");
        Bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());

        Assert.Single(filters.Split('\n'), line => line.Contains("tc_fanout"));
    }

    [Fact]
    public async Task Start_TwoListenersOnOneInterface_BothForwardInTheKernelAndStoppingOneLeavesTheOther()
    {
        var first = Start(Downstreams(0));
        var secondConfig = Listener() with { Name = "second", Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort + 1) };
        var second = Bed.Proxy.Invoke(() =>
        {
            var f = Create(secondConfig);
            f.StartAsync(new DownstreamSet(Downstreams(1)), CancellationToken.None).GetAwaiter().GetResult();
            return f;
        });
        try
        {
            using var client = ClientSocket();

            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);
            await SendToAsync(client, ListenPort + 1, 100, 100, () => Receivers[1].Count);
            Assert.Equal((100, 0), InKernel(first));
            Assert.Equal((100, 0), InKernel(second));

            Stop();
            await SendToAsync(client, ListenPort + 1, 200, 100, () => Receivers[1].Count);

            Assert.Equal((200, 0), InKernel(second));
            Assert.Single(Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress").Split('\n'), line => line.Contains("tc_fanout"));
        }
        finally
        {
            Bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        // The last of the daemon's listeners to leave takes the qdisc the first one created.
        Assert.DoesNotContain("clsact", Bed.Proxy.Exec($"tc qdisc show dev {Bed.ProxyIngress}"));
    }

    [Fact]
    public void Start_TwoListenersWhoseFilterHandlesCollide_TheSecondIsRefusedAndTheFirstKeepsItsFilter()
    {
        // Same port, addresses alike in their last two bytes: one handle. The second must not replace the first.
        Bed.Proxy.Exec($"ip addr add 10.243.1.1/32 dev {Bed.ProxyIngress}");
        Start(Downstreams(0));
        var second = Create(Listener() with { Name = "second", Bind = IPEndPoint.Parse($"10.243.1.1:{ListenPort}") });

        var error = Assert.Throws<InvalidOperationException>(() => Bed.Proxy.Invoke(() =>
            second.StartAsync(new DownstreamSet(Downstreams(1)), CancellationToken.None).GetAwaiter().GetResult()));
        Bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());

        Assert.Equal($"listener 'second': its tc filter on {Bed.ProxyIngress} would replace listener 'kernel''s: 10.243.1.1:{ListenPort} and {Bed.ProxyAddress}:{ListenPort} have the same port and the same last two address bytes (give one of them another port)", error.InnerException!.Message);
        Assert.Single(Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress").Split('\n'), line => line.Contains("tc_fanout"));
    }

    [Fact]
    public void Dispose_AnotherToolsFilterOnTheInterface_StaysAndSoDoesTheQdisc()
    {
        Start(Downstreams(0));
        Bed.Proxy.Exec($"tc filter add dev {Bed.ProxyIngress} ingress prio 7 protocol ip u32 match ip dst 192.0.2.99/32");

        Stop();

        Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        Assert.Contains("u32", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        Assert.Contains("clsact", Bed.Proxy.Exec($"tc qdisc show dev {Bed.ProxyIngress}"));
    }

    [Fact]
    public async Task Dispose_ANewerInstanceOfTheListenerTookTheFilterOver_LeavesItsFilterForwarding()
    {
        // A listener restarted on reload starts its new instance before the old one stops: same bind, same filter.
        Start(Downstreams(0));
        var newer = Bed.Proxy.Invoke(() =>
        {
            var f = Create(Listener());
            f.StartAsync(new DownstreamSet(Downstreams(1)), CancellationToken.None).GetAwaiter().GetResult();
            return f;
        });
        try
        {
            Stop();
            using var client = ClientSocket();

            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[1].Count);

            Assert.Equal((100, 0), InKernel(newer));
            Assert.Equal(0, Receivers[0].Count);
        }
        finally
        {
            Bed.Proxy.Invoke(() => newer.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
    }

    [Fact]
    public void Run_ADownstreamOnAnAddressOfTheProxy_IsRefusedBeforeAttaching()
    {
        // The proxy's own address on the link to s0: bpf_fib_lookup answers "local" for it, and the program would
        // drop every datagram as no_route.
        var local = $"{Bed.Network}.11.1:6000";
        var config = Path.Combine(Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(config, DaemonConfig($"    downstream: [{{ name: proxy, address: \"{local}\" }}]"));
        try
        {
            using var daemon = new DaemonProcess(config, Bed.Proxy);

            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(10)), $"the daemon started:\n{daemon.Output}");
            Assert.Equal(1, daemon.ExitCode);
            Assert.Contains($"{config}:6:42: listeners[0].downstream[0].address: {local} is an address of this host: mode tc_ebpf routes each datagram with bpf_fib_lookup, which answers \"local\" for it, so every datagram would be dropped as no_route; use mode userspace or af_xdp to forward to a receiver on this host",
                daemon.Output);
            Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public void Run_APortThatAnotherDaemonHolds_IsRefusedBeforeAttaching()
    {
        // Another daemon (userspace, its own config file) already receives on the listener's port; the tc program
        // would take its traffic and the fallback socket would share the port with it.
        var directory = Directory.CreateTempSubdirectory("udp-fanout-").FullName;
        var other = Path.Combine(directory, "other.yaml");
        var config = Path.Combine(directory, "config.yaml");
        File.WriteAllText(other, $$"""
            listeners:
              - { name: other, bind: "0.0.0.0:{{ListenPort}}", downstream: [{ name: s0, address: "{{Bed.DownstreamAddress(0)}}:6000" }] }
            metrics: { enabled: false }
            """);
        File.WriteAllText(config, DaemonConfig($"    downstream: [{{ name: s1, address: \"{Bed.DownstreamAddress(1)}:6001\" }}]"));
        try
        {
            using var holder = new DaemonProcess(other, Bed.Proxy);
            holder.WaitReady();
            using var daemon = new DaemonProcess(config, Bed.Proxy);

            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(10)), $"the daemon started:\n{daemon.Output}");
            Assert.Equal(1, daemon.ExitCode);
            Assert.Contains($"udp-fanout: listener 'kernel': UDP port {ListenPort} is already in use by process {holder.Pid} (udp-fanout) (bound to 0.0.0.0:{ListenPort}): two programs on one port would split its datagrams between them; stop the other program or give this listener another port in bind",
                daemon.Output);
            Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task UpdateDownstreams_MoreThanTheProgramHolds_TheFirst256GetEverything()
    {
        var forwarder = Start(Downstreams(0));
        // 300 downstreams, as a big service found by discovery could give: the three receivers first.
        var many = Downstreams(0, 1, 2)
            .Concat(Enumerable.Range(0, 297).Select(i => new Downstream($"pod-{i:D3}", new IPEndPoint(Bed.DownstreamAddress(i % 3), 7000 + i))))
            .ToArray();
        forwarder.UpdateDownstreams(new DownstreamSet(many));
        using var client = ClientSocket();

        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);
        for (var seq = 0; seq < 1024; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), target);
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 1024, "1024 datagrams at the program");

        var stats = forwarder.ReadStats();
        Assert.Equal(1024, stats.Forwarded);
        var perDownstream = stats.Downstreams.ToDictionary(d => d.Downstream, d => d.Packets);
        Assert.Equal(1024, many.Take(256).Sum(d => perDownstream.GetValueOrDefault(d)));
        Assert.All(many.Skip(256), d => Assert.Equal(0, perDownstream.GetValueOrDefault(d)));
    }

    [Fact]
    public async Task UpdateDownstreams_Full256SetReplacedWholeUnderTraffic_TrafficFollowsBothWays()
    {
        // 256 downstreams on 86 extra addresses of each receiver namespace; set "a" on the receivers' ports, set "b"
        // on three more receivers' ports, so no downstream is in both and each set's datagrams land apart.
        var hosts = Enumerable.Range(0, 256).Select(k => (Namespace: k % 3, Address: IPAddress.Parse($"{Bed.Network}.{11 + k % 3}.{20 + k / 3}"))).ToArray();
        foreach (var group in hosts.GroupBy(h => h.Namespace))
        {
            var batch = Path.Combine(Path.GetTempPath(), $"udp-fanout-addrs-{Guid.NewGuid():N}");
            File.WriteAllLines(batch, group.Select(h => $"addr add {h.Address}/24 dev {Bed.Id}s{group.Key}"));
            Bed.Downstreams[group.Key].Exec($"ip -batch {batch}");
            File.Delete(batch);
        }
        var setB = Bed.Downstreams.Select((ns, i) => ns.Invoke(() => new CountingReceiver(IPAddress.Any, 6100 + i))).ToArray();
        try
        {
            Downstream[] FullSet(string name, int port) =>
                hosts.Select((h, k) => new Downstream($"{name}{k:D3}", new IPEndPoint(h.Address, port + h.Namespace))).ToArray();
            var a = FullSet("a", 6000);
            var b = FullSet("b", 6100);
            var forwarder = Start(a);
            using var client = ClientSocket();
            long afterToB, beforeToA, afterToA;
            await using (var traffic = new StreamingSender(client, new IPEndPoint(Bed.ProxyAddress, ListenPort)))
            {
                await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) > 5000, "traffic at set a");

                Bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new DownstreamSet(b)));
                afterToB = traffic.Claimed;
                await Eventually.TrueAsync(() => Reached(forwarder, b), "traffic at every downstream of set b");

                beforeToA = traffic.Claimed;
                Bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new DownstreamSet(a)));
                afterToA = traffic.Claimed;
                await Eventually.TrueAsync(() => Receivers.Sum(r => r.Sequences.Count(seq => seq >= afterToA)) > 5000, "traffic back at set a");
            }

            await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) + setB.Sum(r => r.Count) == forwarder.ReadStats().Forwarded, "every forwarded datagram at a receiver");
            var atA = Receivers.SelectMany(r => r.Sequences).ToArray();
            var atB = setB.SelectMany(r => r.Sequences).ToArray();
            Assert.DoesNotContain(atA, seq => seq >= afterToB && seq < beforeToA);
            Assert.DoesNotContain(atB, seq => seq >= afterToA);
            Assert.Equal(atA.Length + atB.Length, atA.Concat(atB).Distinct().Count());
            var stats = forwarder.ReadStats();
            Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
            Assert.Equal(stats.Forwarded, stats.Downstreams.Sum(d => d.Packets));
        }
        finally
        {
            foreach (var receiver in setB)
            {
                receiver.Dispose();
            }
        }
    }

    [Fact]
    public async Task Forward_DatagramsWhoseTtlWouldExpire_AreDroppedAndCountedNeverSentOnWithAFreshTtl()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        using var client = ClientSocket();
        var target = new IPEndPoint(Bed.ProxyAddress, ListenPort);

        // TTL 1 arrives at the proxy as 1: a router must not send it on, and neither may the fallback socket.
        client.Ttl = 1;
        for (var seq = 0; seq < 50; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), target);
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Dropped[(int)DropReason.TtlExpired] == 50, "50 datagrams dropped as ttl_expired");
        client.Ttl = 64;
        client.SendTo(NumberedPayload.Create(50, 64), target);
        await Eventually.TrueAsync(() => Receivers.Sum(r => r.Count) == 1, "the datagram with a live TTL at a receiver");

        Assert.Equal([50L], Receivers.SelectMany(r => r.Sequences));
        var stats = forwarder.ReadStats();
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
    }

    [Fact]
    public async Task UpdateDownstreams_EveryDownstreamUnhealthy_DropsAsNoHealthyDownstreamLikeTheOtherModes()
    {
        var forwarder = Start(Downstreams(0, 1, 2));
        Bed.Proxy.Invoke(() => forwarder.UpdateDownstreams(new DownstreamSet([], DropReason.NoHealthyDownstream)));
        using var client = ClientSocket();

        for (var seq = 0; seq < 100; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(Bed.ProxyAddress, ListenPort));
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 100, "100 datagrams at the program");

        var stats = forwarder.ReadStats();
        Assert.Equal(100, stats.Dropped[(int)DropReason.NoHealthyDownstream]);
        Assert.Equal(0, stats.Dropped[(int)DropReason.NoDownstream]);
        Assert.All(Receivers, r => Assert.Equal(0, r.Count));
    }

    [Fact]
    public async Task Tcx_StartAndStopOutsideSystemd_AttachesThroughALinkBesideOtherToolsFiltersAndDetachesWithTheListener()
    {
        Bed.Proxy.Exec($"tc qdisc add dev {Bed.ProxyIngress} clsact");
        Bed.Proxy.Exec($"tc filter add dev {Bed.ProxyIngress} ingress prio 7 protocol ip u32 match ip dst 192.0.2.99/32");
        var forwarder = StartTcx(Listener(), Downstreams(0), Unstored());
        try
        {
            using var client = ClientSocket();
            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);

            Assert.Equal((100, 0), InKernel(forwarder));
            Assert.Single(TcxPrograms());
            Assert.DoesNotContain("tc_fanout", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
        }
        finally
        {
            Bed.Proxy.Invoke(() => forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        Assert.Empty(TcxPrograms());
        Assert.Contains("u32", Bed.Proxy.Exec($"tc filter show dev {Bed.ProxyIngress} ingress"));
    }

    [Fact]
    public async Task Tcx_TwoListenersOnOneInterface_EachHasItsOwnLinkAndStoppingOneLeavesTheOtherForwarding()
    {
        var first = StartTcx(Listener(), Downstreams(0), Unstored());
        var second = StartTcx(Listener() with { Name = "second", Bind = new IPEndPoint(Bed.ProxyAddress, ListenPort + 1) }, Downstreams(1), Unstored());
        try
        {
            using var client = ClientSocket();
            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);
            await SendToAsync(client, ListenPort + 1, 100, 100, () => Receivers[1].Count);
            Assert.Equal(((100L, 0L), (100L, 0L)), (InKernel(first), InKernel(second)));
            Assert.Equal(2, TcxPrograms().Length);

            Bed.Proxy.Invoke(() => first.DisposeAsync().AsTask().GetAwaiter().GetResult());
            await SendToAsync(client, ListenPort + 1, 200, 100, () => Receivers[1].Count);

            Assert.Equal((200, 0), InKernel(second));
            Assert.Single(TcxPrograms());
        }
        finally
        {
            Bed.Proxy.Invoke(() => second.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        Assert.Empty(TcxPrograms());
    }

    [Fact]
    public async Task Tcx_UnderSystemd_TheKeptLinkForwardsWhileNoListenerRunsTheNextTakesItOverAndClosingTheStoreDetaches()
    {
        using var systemd = new NotifySocket();
        var store = new FileDescriptorStore(systemd.Path, [], NullLogger.Instance);
        var passed = new List<Microsoft.Win32.SafeHandles.SafeFileHandle>();
        try
        {
            var old = StartTcx(Listener(), Downstreams(0), store);
            Bed.Proxy.Invoke(() => old.DisposeAsync().AsTask().GetAwaiter().GetResult());
            using var client = ClientSocket();

            // No listener runs: the program of the kept link forwards on, to the set it had.
            await SendToAsync(client, ListenPort, 0, 100, () => Receivers[0].Count);

            var next = StartTcx(Listener(), Downstreams(1), store);
            try
            {
                await SendToAsync(client, ListenPort, 100, 100, () => Receivers[1].Count);
                Assert.Equal((100, 0), InKernel(next));
                Assert.Single(TcxPrograms());
            }
            finally
            {
                Bed.Proxy.Invoke(() => next.DisposeAsync().AsTask().GetAwaiter().GetResult());
            }
            Assert.Single(TcxPrograms());

            store.CloseSpare();
            var messages = new List<string>();
            while (systemd.Next(0.5) is var (text, fd))
            {
                messages.Add(text);
                if (fd is not null)
                {
                    passed.Add(fd);
                }
            }
            // No XDP link: on a veth, xdp: auto runs no XDP layer (TcXdpLayerForwarderTests follows the layer's across a restart).
            Assert.Equal(["FDSTORE=1\nFDNAME=kernel/0", "FDSTORE=1\nFDNAME=kernel/tcx", "FDSTOREREMOVE=1\nFDNAME=kernel/tcx", "FDSTOREREMOVE=1\nFDNAME=kernel/0"], messages);
            // This process let go; systemd's copy (here the test's) still holds the program attached, as the store would.
            Assert.Single(TcxPrograms());
        }
        finally
        {
            passed.ForEach(fd => fd.Dispose());
        }
        // What systemd does when it flushes the store on stop: its copies close, and the kernel detaches.
        Assert.Empty(TcxPrograms());
    }

    [Fact]
    public void Tcx_UnderSystemdTheKeptLinkRefusesTheNewProgram_TheOldProgramIsDetachedThoughSystemdHoldsTheLink()
    {
        using var systemd = new NotifySocket();
        var store = new FileDescriptorStore(systemd.Path, [], NullLogger.Instance);
        var old = StartTcx(Listener(), Downstreams(0), store);
        Bed.Proxy.Invoke(() => old.DisposeAsync().AsTask().GetAwaiter().GetResult());
        var next = FileDescriptorStores.NextProcess(systemd);
        var ifindex = int.Parse(Bed.Proxy.Exec($"cat /sys/class/net/{Bed.ProxyIngress}/ifindex").Trim());

        // No program behind the descriptor: the kernel refuses the update, as it would a program of another type.
        var refused = Assert.Throws<InvalidOperationException>(() => Bed.Proxy.Invoke(() => TcxAttachment.Attach(ifindex, Bed.ProxyIngress, -1, "kernel", next)));

        Assert.Equal(9, Assert.IsType<BpfException>(refused.InnerException).Errno);
        // Every copy of the link is still open (the old store's, the next one's): only a detach takes the program off.
        Assert.Empty(TcxPrograms());
    }

    [Fact]
    public void Forward_Ipv6HopLimit_ArrivesDecrementedByOne()
    {
        UseFamily("IPv6");
        using var receiver = Bed.Downstreams[0].Invoke(() => new HopLimitReceiver(6500));
        var forwarder = Start([new Downstream("s0", new IPEndPoint(Bed.DownstreamAddress6(0), 6500))]);

        var received = SendIpv6WithHopLimit64(receiver);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => ((long)i, 63)), received);
        Assert.Equal(20, forwarder.ReadStats().Forwarded);
        Assert.Equal(0, forwarder.ReadStats().ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    [Fact]
    public async Task Forward_MixedFamilyListener_EachFamilyGoesInTheKernelToItsOwnDownstreams()
    {
        var forwarder = await ForwardBothFamiliesThroughAnIpv6AnyListenerAsync();

        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), Receivers[3].Sequences.Order());
        Assert.Equal(Enumerable.Range(1000, 300).Select(i => (long)i), Receivers[..3].SelectMany(r => r.Sequences).Order());
        Assert.All(Receivers[1..3], r => Assert.InRange(r.Count, 100, 200));
        var stats = forwarder.ReadStats();
        Assert.Equal((600L, 600L), (stats.Received, stats.Forwarded));
        Assert.Equal(0, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
        // On a veth, xdp: auto runs no XDP layer: the tc program met every datagram (TcXdpLayerForwarderTests has the layer's case).
        Assert.DoesNotContain(stats.ModeCounters, c => c.Name.StartsWith("tc_xdp_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Forward_NoDownstreamOfTheDatagramsFamily_TheFallbackSendsItToTheOtherFamily()
    {
        UseFamily("IPv6");
        using var ipv4Receiver = Bed.Downstreams[0].Invoke(() => new CountingReceiver(IPAddress.Any, 6100));
        var forwarder = Start([new Downstream("v4", new IPEndPoint(Bed.DownstreamAddress(0), 6100))]);
        using var client = ClientSocket();
        var target = new IPEndPoint(Bed.ProxyAddress6, ListenPort);

        for (var seq = 0; seq < 50; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), target);
        }

        await Eventually.TrueAsync(() => ipv4Receiver.Count == 50, "50 datagrams at the IPv4 downstream");
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), ipv4Receiver.Sequences.Order());
        var stats = forwarder.ReadStats();
        Assert.Equal((50L, 50L), (stats.Received, stats.Forwarded));
        Assert.Equal(50, PassedToStack(stats, "other_family"));
        Assert.Equal(50, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    /// <summary>A store as outside systemd: descriptors close with their listener.</summary>
    private static FileDescriptorStore Unstored() => FileDescriptorStores.None();

    private TcEbpfForwarder StartTcx(ListenerConfig listener, Downstream[] downstreams, FileDescriptorStore store) => Bed.Proxy.Invoke(() =>
    {
        var forwarder = new TcEbpfForwarder(listener, NullLoggerFactory.Instance, store);
        forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None).GetAwaiter().GetResult();
        return forwarder;
    });

    /// <summary>The programs on the proxy's tcx ingress; only this test's listeners attach there.</summary>
    private uint[] TcxPrograms() => Bed.Proxy.Invoke(() => TcxLinks.ProgramIds(Bed.ProxyIngress));

    /// <summary>Every downstream of <paramref name="set"/> has been sent something by the program.</summary>
    private static bool Reached(IListenerForwarder forwarder, Downstream[] set)
    {
        var sent = forwarder.ReadStats().Downstreams.ToDictionary(d => d.Downstream, d => d.Packets);
        return set.All(d => sent.GetValueOrDefault(d) > 0);
    }

    /// <summary>What the program forwarded in the kernel, and what reached the fallback socket instead.</summary>
    private static (long Forwarded, long Fallback) InKernel(IListenerForwarder forwarder)
    {
        var stats = forwarder.ReadStats();
        return (stats.Forwarded, stats.ModeCounters.Single(c => c.Name == "fallback_received_total").Value);
    }

    /// <summary>Sends datagrams first..first+count-1 to the proxy's <paramref name="port"/> and waits until <paramref name="arrived"/> has grown by count.</summary>
    private async Task SendToAsync(Socket client, int port, int first, int count, Func<int> arrived)
    {
        var before = arrived();
        for (var seq = first; seq < first + count; seq++)
        {
            client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(Bed.ProxyAddress, port));
        }
        await Eventually.TrueAsync(() => arrived() == before + count, $"{count} datagrams to port {port} at their receiver");
    }
}
