using System.Net.Sockets;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Forwarding;
using UdpFanout.Model;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.Userspace;

/// <summary>
/// The userspace mode with real packets: most cases over loopback; those that run in each family, as theories over
/// "IPv4" and "IPv6", and those that mix the families through a dual-stack testbed, the client, the proxy and each
/// downstream in namespaces of their own, joined by veth pairs (<see cref="Bed"/>).
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class UserspaceForwarderTests : IAsyncLifetime
{
    private readonly List<CountingReceiver> _receivers = [];
    private UserspaceForwarder? _forwarder;
    private readonly List<IDisposable> _owned = [];
    private NetnsTestbed? _bed;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_forwarder is not null)
        {
            await _forwarder.DisposeAsync();
        }
        _receivers.ForEach(r => r.Dispose());
        _owned.ForEach(o => o.Dispose());
        _bed?.Dispose();
    }

    /// <summary>The dual-stack testbed of the cases over both families, built by the first that asks for it.</summary>
    private NetnsTestbed Bed => _bed ??= NetnsTestbed.Create("u6c", "10.190", downstreams: 4, ipv6: "fd90");

    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task Forward_100kNumberedDatagramsFromOnePort_EachArrivesOnceByteExactAndSpreadWithinOne(string family)
    {
        var listener = BedListener(family);
        var downstreams = BedReceivers(family, family, family);
        var forwarder = BedStart(listener, downstreams);
        using var client = BedClient(forwarder, listener.Bind);

        await client.SendAsync(100_000, seq => 16 + (int)(seq % 1385));
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 100_000, "all datagrams to arrive");

        var all = _receivers.SelectMany(r => r.Sequences).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 100_000).Select(i => (long)i), all);
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        var counts = _receivers.Select(r => r.Count).ToArray();
        Assert.True(counts.Max() - counts.Min() <= 1, $"spread {string.Join(",", counts)}");
        var stats = forwarder.ReadStats();
        Assert.Equal((100_000L, 100_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(stats.ReceivedBytes, stats.ForwardedBytes);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(_receivers[i].Count, stats.Downstreams.Single(d => d.Downstream == downstreams[i]).Packets);
            // Sent from the listener's address, as its sending socket is bound to it.
            Assert.Equal(listener.Bind.Address, Assert.Single(_receivers[i].Sources.Select(s => s.Address).Distinct()));
        }
    }

    /// <summary>65,507 bytes in IPv4, 65,527 in IPv6 (no IP header in its payload length): the default largest datagram of a listener of the family.</summary>
    [Theory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task Forward_LargestDatagramOfTheFamily_ArrivesWhole(string family)
    {
        var listener = BedListener(family);
        var largest = family == "IPv6" ? ListenerConfig.MaxUdpPayload6 : ListenerConfig.MaxUdpPayload;
        Assert.Equal(largest, listener.MaxPacketSize);
        var forwarder = BedStart(listener, BedReceivers(family));
        using var client = BedClient(forwarder, listener.Bind);

        await client.SendAsync(3, _ => largest, burst: 1);

        await Eventually.TrueAsync(() => _receivers[0].Count == 3, $"three {largest}-byte datagrams");
        Assert.Equal(0, _receivers[0].Corrupt);
        // The worker counts a batch once sendmmsg returns, which may be after the receiver has it.
        await Eventually.TrueAsync(() => forwarder.ReadStats() is { Forwarded: 3 } s && s.ForwardedBytes == 3L * largest, $"three forwarded datagrams of {largest} bytes counted");
    }

    [Fact]
    public async Task Forward_LargerThanMaxPacketSize_DroppedAsTruncatedNeverCut()
    {
        var forwarder = await StartAsync(Listener() with { MaxPacketSize = 1000 }, Receivers(1));
        using var client = Client(forwarder);

        await client.SendAsync(4, seq => seq % 2 == 0 ? 1000 : 1001, burst: 1);

        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 4, "four datagrams received");
        await Task.Delay(100);
        Assert.Equal([0L, 2L], _receivers[0].Sequences.Order());
        var stats = forwarder.ReadStats();
        Assert.Equal(2, stats.Dropped[(int)DropReason.Truncated]);
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
    }

    [Theory]
    [InlineData((int)DropReason.NoDownstream)]
    [InlineData((int)DropReason.NoHealthyDownstream)]
    public async Task Forward_EmptySet_DropsWithTheSetsReason(int reasonValue)
    {
        var reason = (DropReason)reasonValue;
        var forwarder = await StartAsync(Listener(), []);
        forwarder.UpdateDownstreams(new DownstreamSet([], reason));
        using var client = Client(forwarder);

        await client.SendAsync(10, _ => 100, burst: 10);

        var stats = forwarder.ReadStats();
        Assert.Equal(10, stats.Dropped[(int)reason]);
        Assert.Equal(10, stats.DroppedTotal);
        Assert.Equal(0, stats.Forwarded);
    }

    [Fact]
    public async Task Forward_DeadDownstreamAnsweringWithIcmp_DoesNotStopTheWorker()
    {
        var alive = new CountingReceiver();
        _receivers.Add(alive);
        var dead = new Downstream("dead", LoopbackPorts.Closed());
        var forwarder = await StartAsync(Listener(), [dead, new Downstream("alive", alive.Endpoint)]);
        using var client = Client(forwarder);

        await client.SendAsync(20_000, _ => 64);

        await Eventually.TrueAsync(() => alive.Count == 10_000, "every other datagram at the live downstream");
        var stats = forwarder.ReadStats();
        Assert.Equal(20_000, stats.Received);
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
    }

    [Fact]
    public async Task Forward_DownstreamEchoesEveryDatagram_ListenerTakesInOnlyTheClients()
    {
        using var echo = new UdpEcho();
        var forwarder = await StartAsync(Listener(), [new Downstream("echo", echo.Endpoint)]);
        using var client = Client(forwarder);

        await client.SendAsync(100, _ => 64, burst: 10);
        await Eventually.TrueAsync(() => echo.Echoed >= 100, "100 datagrams echoed");
        // Time for echoes that found their way back in to go round again.
        await Task.Delay(300);

        var stats = forwarder.ReadStats();
        Assert.Equal((100L, 100L, 100L), (stats.Received, stats.Forwarded, echo.Echoed));
    }

    [Fact]
    public async Task Forward_ReceiveBufferOverflows_LostDatagramsCountAsReceivedAndDropped()
    {
        var forwarder = await StartAsync(Listener() with { RecvBufferBytes = 4096 }, Receivers(2));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var target = forwarder.Bind.Serialize();

        // As fast as one thread can send: far faster than a worker drains a 4 KiB buffer.
        var payload = new byte[200];
        for (var seq = 0; seq < 20_000; seq++)
        {
            NumberedPayload.Write(payload, seq);
            client.SendTo(payload, SocketFlags.None, target);
        }

        await Eventually.TrueAsync(() => forwarder.ReadStats().Received == 20_000, "every datagram sent counted as received");
        var stats = forwarder.ReadStats();
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) == stats.Forwarded, "the forwarded datagrams at the receivers");
        Assert.True(stats.Dropped[(int)DropReason.ReceiveBufferFull] > 0, "no receive-buffer drops: the test did not overflow the buffer");
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(stats.DroppedTotal, stats.Dropped[(int)DropReason.ReceiveBufferFull]);
        Assert.Equal(_receivers.Sum(r => r.Count), stats.Forwarded);
    }

    /// <summary>ICMP and ICMPv6 errors come back on the sending socket of the family and are counted against their downstream (IP_RECVERR, IPV6_RECVERR).</summary>
    [Theory]
    [InlineData("IPv4", 2000)]
    [InlineData("IPv6", 400)]
    public async Task Forward_DownstreamPortClosed_CountsEachIcmpPortUnreachableAndLosesNothingElse(string family, int count)
    {
        // Every datagram to the closed port draws its error: the downstream's ICMP rate limit off.
        Bed.Downstreams[1].Exec(family == "IPv6" ? "sysctl -qw net.ipv6.icmp.ratelimit=0" : "sysctl -qw net.ipv4.icmp_ratemask=0");
        var alive = BedReceivers(family)[0];
        var dead = new Downstream("dead", new IPEndPoint(family == "IPv6" ? Bed.DownstreamAddress6(1) : Bed.DownstreamAddress(1), 6001));
        var listener = BedListener(family);
        var forwarder = BedStart(listener, [dead, alive]);
        using var client = BedClient(forwarder, listener.Bind);

        await client.SendAsync(count, _ => 64, burst: 20);

        await Eventually.TrueAsync(() => IcmpErrors(forwarder, dead, IcmpError.PortUnreachable) == count / 2, $"{count / 2} port unreachable errors for the dead downstream");
        await Eventually.TrueAsync(() => _receivers[0].Count == count / 2, "every other datagram at the live downstream");
        var stats = forwarder.ReadStats();
        Assert.Equal((count, count, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(count / 2, stats.Downstreams.Single(d => d.Downstream == dead).Packets);
        Assert.DoesNotContain(stats.IcmpErrors, e => e.Downstream == alive);
    }

    [Fact]
    public async Task Forward_EveryLossCauseAtOnce_ReceivedIsForwardedPlusDroppedAndTheReceiverGotItsShare()
    {
        using var ns = new NetworkNamespace($"ufa-loss-{Environment.ProcessId % 10000:x}");
        ns.Exec("sysctl -qw net.ipv4.icmp_ratemask=0");
        var alive = ns.Invoke(() => new CountingReceiver());
        _receivers.Add(alive);
        var live = new Downstream("alive", alive.Endpoint);
        var closed = new Downstream("closed", LoopbackPorts.Closed());
        // The namespace has no route but loopback's: sending there fails at once.
        var unroutable = new Downstream("unroutable", new IPEndPoint(IPAddress.Parse("10.240.99.1"), 6000));
        var forwarder = ns.Invoke(() => StartAsync(Listener() with { MaxPacketSize = 1000 }, [live, closed, unroutable]).GetAwaiter().GetResult());
        using var client = new PacedSender(ns.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)), forwarder.Bind, () => forwarder.ReadStats().Received);

        // Every seventh is too large to forward whole; the rest go round robin to the three.
        await client.SendAsync(2100, seq => seq % 7 == 0 ? 1001 : 64, burst: 30);

        var stats = forwarder.ReadStats();
        await Eventually.TrueAsync(() => alive.Count == stats.Downstreams.Single(d => d.Downstream == live).Packets, "the live downstream's share at its receiver");
        await Eventually.TrueAsync(() => IcmpErrors(forwarder, closed, IcmpError.PortUnreachable) == stats.Downstreams.Single(d => d.Downstream == closed).Packets, "an ICMP error for each datagram to the closed port");
        Assert.Equal((2100L, 300L), (stats.Received, stats.Dropped[(int)DropReason.Truncated]));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
        Assert.Equal(600, stats.Dropped[(int)DropReason.SendError]);
        Assert.Equal((600L, 600L), (stats.Downstreams.Single(d => d.Downstream == live).Packets, stats.Downstreams.Single(d => d.Downstream == closed).Packets));
        Assert.Equal(600, alive.Sequences.Distinct().Count());
        Assert.All(alive.Sequences, seq => Assert.NotEqual(0, seq % 7));
    }

    private static long IcmpErrors(IListenerForwarder forwarder, Downstream downstream, IcmpError type) =>
        forwarder.ReadStats().IcmpErrors.Where(e => e.Downstream == downstream && e.Type == type).Sum(e => e.Count);

    [Fact]
    public async Task Forward_FourWorkersManySourcePorts_SharedRoundRobinKeepsCountsWithinOne()
    {
        var forwarder = await StartAsync(Listener() with { Workers = 4 }, Receivers(3));
        var clients = Enumerable.Range(0, 16).Select(_ => Client(forwarder)).ToArray();

        for (var round = 0; round < 10; round++)
        {
            foreach (var client in clients)
            {
                await client.SendAsync(300, _ => 64, burst: 300);
            }
        }

        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) == 48_000, "all datagrams to arrive");
        var counts = _receivers.Select(r => r.Count).ToArray();
        Assert.True(counts.Max() - counts.Min() <= 1, $"spread {string.Join(",", counts)}");
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task UpdateDownstreams_WhileTrafficFlows_RemovedDownstreamGetsNothingSentAfterReturn()
    {
        var receivers = Receivers(3);
        var forwarder = await StartAsync(Listener(), receivers);
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        long sentWhenUpdateReturned;
        await using (var traffic = new StreamingSender(sender, forwarder.Bind))
        {
            await Eventually.TrueAsync(() => _receivers[2].Count > 1000, "traffic to reach the third downstream");

            forwarder.UpdateDownstreams(new DownstreamSet(receivers.Take(2)));
            sentWhenUpdateReturned = traffic.Claimed;
            await Eventually.TrueAsync(() => forwarder.ReadStats().Received > sentWhenUpdateReturned + 20_000, "traffic after the update");
        }

        Assert.All(_receivers[2].Sequences, seq => Assert.True(seq < sentWhenUpdateReturned, $"datagram {seq} sent after the update reached the removed downstream"));
        Assert.Contains(_receivers[0].Sequences, seq => seq > sentWhenUpdateReturned);
    }

    [Theory]
    [InlineData("round_robin", false)]
    [InlineData("round_robin", true)]
    [InlineData("source_hash", false)]
    public async Task Forward_OneMillionDatagrams_AllocatesNothingPerDatagram(string policy, bool weighted)
    {
        Assert.True(YamlNames.TryParse<BalancePolicy>(policy, out var balance));
        var downstreams = Receivers(3).Select((d, i) => d with { Weight = weighted ? i + 1 : 1 }).ToArray();
        var forwarder = await StartAsync(Listener() with { Workers = 2, Balance = balance }, downstreams);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var target = forwarder.Bind.Serialize();
        var payload = new byte[64];
        // Warm up: JIT, thread start, first-use allocations.
        for (var i = 0; i < 10_000; i++)
        {
            client.SendTo(payload, SocketFlags.None, target);
        }
        await Eventually.TrueAsync(() => forwarder.ReadStats().Received > 1000, "warm-up traffic");

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var startReceived = forwarder.ReadStats().Received;
        long received = 0;
        for (var round = 0; received < 1_000_000; round++)
        {
            for (var i = 0; i < 10_000; i++)
            {
                client.SendTo(payload, SocketFlags.None, target);
            }
            received = forwarder.ReadStats().Received - startReceived;
        }
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        // Everything in the process counts here, the test's own polling of ReadStats included; one object per
        // datagram would be at least 24 MB.
        Assert.True(allocated < 4_000_000, $"{allocated} bytes allocated while forwarding {received} datagrams");
    }

    [Fact]
    public async Task Forward_TheWorkerLoopThrowsMidBatch_LoggedOnceCountedAsARestartTheBatchDroppedAndForwardingGoesOn()
    {
        var log = new RecordingLogger();
        var forwarder = await StartAsync(Listener(), Receivers(2), log);
        using var client = Client(forwarder);
        await client.SendAsync(100, _ => 64, burst: 10);

        // The next batch throws after it is counted as received and before it is sent, as a bug in the loop would.
        forwarder.Fault.Arm(new InvalidOperationException("a bug in the loop"));
        await client.SendAsync(1000, _ => 64, burst: 10);

        await Eventually.TrueAsync(() => forwarder.ReadStats() is var s && s.Forwarded + s.DroppedTotal == 1100 && _receivers.Sum(r => r.Count) == s.Forwarded,
            "every datagram forwarded or dropped, and the forwarded ones at the receivers");
        var stats = forwarder.ReadStats();
        var dropped = stats.Dropped[(int)DropReason.WorkerFailed];
        Assert.InRange(dropped, 1, 10);
        Assert.Equal((1100L, 1100L - dropped, dropped), (stats.Received, stats.Forwarded, stats.DroppedTotal));
        Assert.Equal(1, stats.ModeCounters.Single(c => c.Name == "worker_restarts_total").Value);
        var error = Assert.Single(log.At(Microsoft.Extensions.Logging.LogLevel.Error));
        Assert.Equal($"listener test: forwarding thread test/w0 failed and starts again in 100 ms; its unfinished batch of {dropped} datagram(s) counts as dropped (worker_failed)", error.Message);
        Assert.Equal(("test", "test/w0"), (error.Values["Listener"], error.Values["Worker"]));
        // Forwarding went on after the failure: every datagram outside the dropped batch arrived, the last included.
        var arrived = _receivers.SelectMany(r => r.Sequences).ToHashSet();
        Assert.Equal(1100 - dropped, arrived.Count);
        Assert.Contains(1099L, arrived);
    }

    [Fact]
    public async Task Start_WithCpus_PinsEachWorkerThread()
    {
        await StartAsync(Listener() with { Workers = 2, Cpus = new([1, 0]) }, Receivers(1));

        await Eventually.TrueAsync(() => WorkerCpus("test/w0") == "1" && WorkerCpus("test/w1") == "0", "workers pinned to CPUs 1 and 0");
    }

    /// <summary>
    /// A dual-stack listener on [::] takes IPv4 and IPv6 clients alike and round-robins every datagram over
    /// downstreams of both families, each sent from the socket of its downstream's family.
    /// </summary>
    [Fact]
    public async Task Forward_DualStackListener_Ipv4AndIpv6ClientsToDownstreamsOfBothFamilies_EachOnceAndSpreadWithinOne()
    {
        var downstreams = BedReceivers("IPv4", "IPv6", "IPv4", "IPv6");
        var forwarder = BedStart(DualStackListener(), downstreams);
        var v4 = BedClientSocket(AddressFamily.InterNetwork);
        var v6 = BedClientSocket(AddressFamily.InterNetworkV6);
        var payload = new byte[200];

        for (long seq = 0; seq < 20_000; seq++)
        {
            var length = 16 + (int)(seq % 180);
            NumberedPayload.Write(payload.AsSpan(0, length), seq);
            // A third from the IPv4 client: a period prime to the four downstreams', so each gets both families.
            if (seq % 3 == 0)
            {
                v4.SendTo(payload.AsSpan(0, length), SocketFlags.None, new IPEndPoint(Bed.ProxyAddress, 5514));
            }
            else
            {
                v6.SendTo(payload.AsSpan(0, length), SocketFlags.None, new IPEndPoint(Bed.ProxyAddress6, 5514));
            }
            if (seq % 1000 == 999)
            {
                var expected = seq + 1;
                await Eventually.TrueAsync(() => forwarder.ReadStats().Received >= expected, $"the proxy to receive {expected} datagrams");
            }
        }
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 20_000, "all datagrams to arrive");

        Assert.Equal(Enumerable.Range(0, 20_000).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        Assert.All(_receivers, r => Assert.Equal(0, r.Corrupt));
        Assert.Equal([5000, 5000, 5000, 5000], _receivers.Select(r => r.Count));
        // Each receiver saw both clients' datagrams, from the proxy's address of its own family.
        Assert.All(_receivers, r => Assert.Contains(r.Sequences, s => s % 3 == 0));
        Assert.All(_receivers, r => Assert.Contains(r.Sequences, s => s % 3 != 0));
        Assert.Equal([IPAddress.Parse("10.190.11.1"), IPAddress.Parse("fd90:12::1"), IPAddress.Parse("10.190.13.1"), IPAddress.Parse("fd90:14::1")],
            _receivers.Select(r => Assert.Single(r.Sources.Select(s => s.Address).Distinct())));
        var stats = forwarder.ReadStats();
        Assert.Equal((20_000L, 20_000L, 0L), (stats.Received, stats.Forwarded, stats.DroppedTotal));
    }

    /// <summary>An IPv4 client of a listener on [::] arrives as ::ffff:a.b.c.d and is hashed as the IPv4 address it is.</summary>
    [Fact]
    public async Task Forward_DualStackSourceHash_EverySourceOfEitherFamilyAtItsPredictedDownstream()
    {
        var downstreams = BedReceivers("IPv4", "IPv6", "IPv4", "IPv6");
        BedStart(DualStackListener() with { Balance = BalancePolicy.SourceHash, HashKey = HashKey.SourceIpPort }, downstreams);
        var v4 = new ClientSources(Bed, addresses: 20);
        var v6 = new ClientSources(Bed, addresses: 20, ipv6: true);
        _owned.Add(v4);
        _owned.Add(v6);
        IPEndPoint[] sources = [.. v4.Take(200), .. v6.Take(200)];

        for (var k = 0; k < 5; k++)
        {
            v4.Send(sources[..200], i => i * 10L + k, new IPEndPoint(Bed.ProxyAddress, 5514));
            v6.Send(sources[200..], i => (200 + i) * 10L + k, new IPEndPoint(Bed.ProxyAddress6, 5514));
            var expected = (k + 1) * 400;
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= expected, $"{expected} datagrams at the receivers");
        }

        var predicted = new int[sources.Length];
        new MaglevPolicy(downstreams).Pick(sources.Select(s => SourceHash.Key(s, HashKey.SourceIpPort)).ToArray(), predicted);
        for (var r = 0; r < _receivers.Count; r++)
        {
            var bySource = _receivers[r].Sequences.GroupBy(seq => (int)(seq / 10)).ToArray();
            Assert.All(bySource, g => Assert.True(predicted[g.Key] == r, $"source {sources[g.Key]} at receiver {r}, predicted {predicted[g.Key]}"));
        }
        Assert.Equal(2000, _receivers.Sum(r => r.Count));
        Assert.All(_receivers, r => Assert.Contains(r.Sequences, s => s < 2000));
    }

    /// <summary>A datagram too large for an IPv4 downstream fails its send and counts as send_error; nothing else is lost.</summary>
    [Fact]
    public async Task Forward_65527BytesToAnIpv4Downstream_DroppedAsSendErrorAndAccounted()
    {
        var forwarder = BedStart(DualStackListener(), BedReceivers("IPv4"));
        using var client = BedClient(forwarder, new IPEndPoint(Bed.ProxyAddress6, 5514));

        await client.SendAsync(4, seq => seq % 2 == 0 ? ListenerConfig.MaxUdpPayload6 : ListenerConfig.MaxUdpPayload, burst: 1);

        await Eventually.TrueAsync(() => _receivers[0].Count == 2, "the two 65507-byte datagrams");
        var stats = forwarder.ReadStats();
        Assert.Equal([1L, 3L], _receivers[0].Sequences.Order());
        Assert.Equal((4L, 2L, 2L), (stats.Received, stats.Forwarded, stats.Dropped[(int)DropReason.SendError]));
        Assert.Equal(stats.Received, stats.Forwarded + stats.DroppedTotal);
    }

    /// <summary>The Cpus_allowed_list of this process's thread with the given name, or null.</summary>
    private static string? WorkerCpus(string threadName)
    {
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == threadName)
            {
                return File.ReadAllLines(Path.Combine(task, "status"))
                    .Single(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)).Split(':')[1].Trim();
            }
        }
        return null;
    }

    private async Task<UserspaceForwarder> StartAsync(ListenerConfig listener, IEnumerable<Downstream> downstreams, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _forwarder = new UserspaceForwarder(listener, logger ?? NullLogger.Instance, store: null);
        await _forwarder.StartAsync(new DownstreamSet(downstreams), CancellationToken.None);
        return _forwarder;
    }

    private Downstream[] Receivers(int count)
    {
        var created = Enumerable.Range(0, count).Select(_ => new CountingReceiver()).ToArray();
        _receivers.AddRange(created);
        return created.Select((r, i) => new Downstream($"r{i}", r.Endpoint)).ToArray();
    }

    private static ListenerConfig Listener() => new() { Name = "test", Bind = LoopbackPorts.FreeUdp() };

    /// <summary>A listener of two workers on the testbed proxy's address of <paramref name="family"/>.</summary>
    private ListenerConfig BedListener(string family) =>
        new() { Name = "test", Bind = new IPEndPoint(family == "IPv6" ? Bed.ProxyAddress6 : Bed.ProxyAddress, 5514), Workers = 2 };

    /// <summary>A listener of two workers on [::], which takes both families.</summary>
    private static ListenerConfig DualStackListener() => new() { Name = "test", Bind = new IPEndPoint(IPAddress.IPv6Any, 5514), Workers = 2 };

    /// <summary>Started on a thread inside the testbed proxy's namespace, so every socket it opens lives there.</summary>
    private UserspaceForwarder BedStart(ListenerConfig listener, Downstream[] downstreams) =>
        Bed.Proxy.Invoke(() => StartAsync(listener, downstreams).GetAwaiter().GetResult());

    /// <summary>A receiver in downstream namespace i for each entry, on its address of that family ("IPv4" or "IPv6"), port 6000 + i.</summary>
    private Downstream[] BedReceivers(params string[] families)
    {
        var result = new Downstream[families.Length];
        for (var i = 0; i < families.Length; i++)
        {
            var address = families[i] == "IPv6" ? Bed.DownstreamAddress6(i) : Bed.DownstreamAddress(i);
            var port = 6000 + i;
            var receiver = Bed.Downstreams[i].Invoke(() => new CountingReceiver(address, port));
            _receivers.Add(receiver);
            result[i] = new Downstream($"s{i}", receiver.Endpoint);
        }
        return result;
    }

    private Socket BedClientSocket(AddressFamily family)
    {
        var socket = Bed.Client.Invoke(() => new Socket(family, SocketType.Dgram, ProtocolType.Udp));
        _owned.Add(socket);
        return socket;
    }

    private PacedSender BedClient(UserspaceForwarder forwarder, IPEndPoint target) =>
        new(Bed.Client.Invoke(() => new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp)), target, () => forwarder.ReadStats().Received);

    private static PacedSender Client(UserspaceForwarder forwarder) => new(forwarder.Bind, () => forwarder.ReadStats().Received);
}
