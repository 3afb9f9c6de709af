using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Discovery;
using UdpFanout.Tests.Testing;
using Pod = UdpFanout.Tests.Testing.EndpointSliceJson.Pod;

namespace UdpFanout.Tests.Discovery;

/// <summary>The real KubernetesClient against an API server on loopback that behaves as a real one does.</summary>
public sealed class KubernetesDiscoveryTests : IDisposable
{
    private static readonly WatchTiming Fast = new()
    {
        InitialBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
        WatchTimeout = TimeSpan.FromSeconds(30),
    };

    private readonly FakeKubernetesApi _api = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("udp-fanout-k8s-").FullName;
    private readonly Lock _gate = new();
    private IReadOnlyList<Downstream> _published = [];
    private int _publications;

    public void Dispose()
    {
        _api.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Watch_PodsComeAndGo_DownstreamsFollowWithinASecond()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11")]));
        await using var discovery = Start();
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["vector-0 10.244.0.10:5514", "vector-1 10.244.0.11:5514"], Published());

        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11"), new Pod("vector-2", "10.244.0.12")]));
        await Within1s(["vector-0 10.244.0.10:5514", "vector-1 10.244.0.11:5514", "vector-2 10.244.0.12:5514"], "a new pod joins");

        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11", Ready: false), new Pod("vector-2", "10.244.0.12")]));
        await Within1s(["vector-0 10.244.0.10:5514", "vector-2 10.244.0.12:5514"], "a pod that is no longer ready leaves");

        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10", Ready: false, Terminating: true), new Pod("vector-2", "10.244.0.12")]));
        await Within1s(["vector-2 10.244.0.12:5514"], "a terminating pod leaves");

        _api.Delete("vector-x1");
        await Within1s([], "the slice is deleted");
        Assert.True(discovery.ApiReachable);
        Assert.Equal(0, discovery.Relists);
    }

    /// <summary>
    /// A dual-stack service, as the endpointslice controller writes it: one slice per family. A listener of any mode
    /// forwards to every pod at both addresses (tc_ebpf each datagram to those of its own family).
    /// </summary>
    [Theory]
    [InlineData("userspace")]
    [InlineData("tc_ebpf")]
    [InlineData("af_xdp")]
    public async Task Watch_DualStackService_EveryModeTakesBothFamilies(string modeName)
    {
        string[] expected = ["vector-0 10.244.0.10:5514", "vector-0 [fd00:10:244::a]:5514", "vector-1 10.244.0.11:5514", "vector-1 [fd00:10:244::b]:5514"];
        Assert.True(UdpFanout.Model.YamlNames.TryParse<ForwardingMode>(modeName, out var mode));
        _api.Apply(EndpointSliceJson.Slice("vector-v4", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11")]));
        _api.Apply(EndpointSliceJson.Slice("vector-v6", "vector", [new Pod("vector-0", "fd00:10:244::a"), new Pod("vector-1", "fd00:10:244::b")], addressType: "IPv6"));
        await using var discovery = Start(mode: mode);
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(expected, Published());

        // A pod leaving the IPv6 slice only leaves at its IPv6 address.
        _api.Apply(EndpointSliceJson.Slice("vector-v6", "vector", [new Pod("vector-0", "fd00:10:244::a")], addressType: "IPv6"));
        await Within1s(["vector-0 10.244.0.10:5514", "vector-0 [fd00:10:244::a]:5514", "vector-1 10.244.0.11:5514"], "vector-1 leaves the IPv6 slice");
    }

    [Fact]
    public async Task Watch_SeveralSlicesAndOtherServices_OnlyThisServiceIsTaken()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10")]));
        _api.Apply(EndpointSliceJson.Slice("vector-b", "vector", [new Pod("vector-1", "10.244.1.10")]));
        _api.Apply(EndpointSliceJson.Slice("fluentd-a", "fluentd", [new Pod("fluentd-0", "10.244.2.10")]));
        await using var discovery = Start();
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["vector-0 10.244.0.10:5514", "vector-1 10.244.1.10:5514"], Published());

        _api.Apply(EndpointSliceJson.Slice("fluentd-a", "fluentd", [new Pod("fluentd-0", "10.244.2.10"), new Pod("fluentd-1", "10.244.2.11")]));
        _api.Apply(EndpointSliceJson.Slice("vector-c", "vector", [new Pod("vector-2", "10.244.2.20")]));
        await Eventually5s(["vector-0 10.244.0.10:5514", "vector-1 10.244.1.10:5514", "vector-2 10.244.2.20:5514"], "a third slice of the service");
        Assert.All(_api.Requests, r => Assert.Contains("labelSelector=kubernetes.io%2Fservice-name%3Dvector", r));
    }

    [Fact]
    public async Task List_ASliceWith1000EndpointsAndPagedLists_EveryEndpointBecomesADownstream()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-big", "vector", Enumerable.Range(0, 1000).Select(i => new Pod($"vector-{i:D4}", $"10.245.{i / 250}.{i % 250 + 1}"))));
        for (var i = 0; i < 4; i++)
        {
            _api.Apply(EndpointSliceJson.Slice($"vector-small-{i}", "vector", [new Pod($"small-{i}", $"10.246.0.{i + 1}")]));
        }
        await using var discovery = Start(Fast with { PageSize = 2 });

        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1004, Published().Count);
        Assert.Equal(1004, discovery.Endpoints);
        Assert.Equal(3, _api.Requests.Count(r => r.Contains("limit=2")));
        Assert.Equal(1, _publications);
    }

    [Fact]
    public async Task List_ServiceWithoutEndpoints_IsPublishedEmpty_SoItReplacesAPreviousDiscoverysPods()
    {
        _api.Apply(EndpointSliceJson.Slice("fluentd-a", "fluentd", [new Pod("fluentd-0", "10.244.2.10")]));
        await using var discovery = Start();

        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, _publications);
        Assert.Empty(Published());
    }

    [Fact]
    public async Task Requests_CarryTheBearerTokenFromTheKubeconfig_AndAWrongTokenNeverSyncs()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10")]));
        await using (var wrong = Start(token: "wrong-token"))
        {
            await Eventually.TrueAsync(() => _api.Requests.Count >= 3, "retries with the wrong token");
            Assert.False(wrong.FirstSync.IsCompleted);
            Assert.False(wrong.ApiReachable);
            Assert.Empty(Published());
        }

        await using var discovery = Start();
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["vector-0 10.244.0.10:5514"], Published());
    }

    [Fact]
    public async Task Watch_ApiGoesAwayAndBack_LastKnownSetServesThenChangesMadeMeanwhileApply()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11")]));
        await using var discovery = Start();
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        _api.Stop();
        await Eventually.TrueAsync(() => !discovery.ApiReachable, "the discovery to notice the API is gone");
        await Task.Delay(300);
        Assert.Equal(["vector-0 10.244.0.10:5514", "vector-1 10.244.0.11:5514"], Published());

        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-1", "10.244.0.11"), new Pod("vector-2", "10.244.0.12")]));
        _api.Start();
        await Eventually.TrueAsync(() => discovery.ApiReachable, "the discovery to reach the API again");
        await Eventually5s(["vector-1 10.244.0.11:5514", "vector-2 10.244.0.12:5514"], "the change made while the API was away");
        Assert.Equal(0, discovery.Relists);
    }

    [Fact]
    public async Task Watch_StreamsThatEndAtOnce_AreRetriedWithBackoffNotInATightLoop()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10")]));
        _api.EndWatchesAtOnce = true;
        await using var discovery = Start();
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        await Task.Delay(1000);

        // 50, 100, 200, 200, ... ms apart: about 6 watches in a second; a loop without backoff makes hundreds.
        Assert.InRange(_api.Requests.Count(r => r.Contains("watch=true")), 2, 10);
        Assert.Equal(["vector-0 10.244.0.10:5514"], Published());
    }

    [Fact]
    public async Task Watch_ResumePointCompactedAway_410GoneRelistsAndCatchesUp()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10")]));
        _api.Apply(EndpointSliceJson.Slice("vector-b", "vector", [new Pod("vector-1", "10.244.0.11")]));
        await using var discovery = Start(bookmarks: false);
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        _api.Stop();
        await Eventually.TrueAsync(() => !discovery.ApiReachable, "the discovery to notice the API is gone");
        _api.Delete("vector-b");
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-5", "10.244.0.15")]));
        _api.Compact();
        _api.Start();

        await Eventually5s(["vector-0 10.244.0.10:5514", "vector-5 10.244.0.15:5514"], "the relisted state");
        Assert.Equal(1, discovery.Relists);
        Assert.Equal(2, _api.Requests.Count(r => !r.Contains("watch=true")));
    }

    [Fact]
    public async Task Watch_Bookmarks_KeepTheResumePointFresh_SoCompactionNeedsNoRelist()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10")]));
        await using var discovery = Start();
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        // Other services move the global resourceVersion on; only bookmarks tell this watch about it.
        for (var i = 0; i < 20; i++)
        {
            _api.Apply(EndpointSliceJson.Slice("fluentd-a", "fluentd", [new Pod($"fluentd-{i}", "10.244.2.10")]));
        }
        var latest = _api.Version;
        await Eventually.TrueAsync(() => _api.LastBookmark >= latest, "a bookmark at the latest resourceVersion");
        await Task.Delay(50);
        _api.Compact();
        _api.EndWatches();
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11")]));

        await Eventually5s(["vector-0 10.244.0.10:5514", "vector-1 10.244.0.11:5514"], "the change after the resumed watch");
        Assert.Equal(0, discovery.Relists);
        Assert.Contains(_api.Requests, r => r.Contains("watch=true") && r.Contains($"resourceVersion={latest}"));
    }

    [Fact]
    public async Task Watch_EndpointsThatWouldLoopOrReachEveryone_AreLeftOutWithOneWarningEach()
    {
        // The listener receives on 0.0.0.0:5514, the service's port: a pod on the host network at 127.0.0.1 is
        // the listener itself.
        _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("host-net", "127.0.0.1"), new Pod("odd", "0.0.0.0")]));
        var log = new RecordingLogger();
        await using var discovery = Start(logger: log);
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["vector-0 10.244.0.10:5514"], Published());

        for (var i = 1; i <= 3; i++)
        {
            _api.Apply(EndpointSliceJson.Slice("vector-a", "vector", [
                new Pod("vector-0", "10.244.0.10"), new Pod("host-net", "127.0.0.1"), new Pod("odd", "0.0.0.0"), .. Enumerable.Range(1, i).Select(n => new Pod($"vector-{n}", $"10.244.0.{10 + n}"))]));
            await Within1s(["vector-0 10.244.0.10:5514", .. Enumerable.Range(1, i).Select(n => $"vector-{n} 10.244.0.{10 + n}:5514")], $"event {i}");
        }

        Assert.Equal(
            [
                "listener syslog: endpoint host-net of service logging/vector is left out: 127.0.0.1:5514 is an address of this host, and the listener receives on port 5514 of every local address (bind 0.0.0.0:5514): every datagram would come back into it (a forwarding loop)",
                "listener syslog: endpoint odd of service logging/vector is left out: 0.0.0.0:5514 is the unspecified address: a datagram sent to 0.0.0.0 is delivered to this host itself, so it comes back into the listeners (a forwarding loop); give the receiver's own address",
            ],
            log.Messages.Where(m => m.Contains("left out")).Order());
    }

    [Fact]
    public async Task Watch_TheDataPathRefusesAnEvent_LoggedOnceAsAnApplyFailureNotAsTheApiAndALaterEventApplies()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10")]));
        var logger = new RecordingLogger();
        var refuse = false;
        await using var discovery = Start(logger: logger, publish: downstreams =>
        {
            if (Volatile.Read(ref refuse))
            {
                throw new UdpFanout.Bpf.BpfException("cannot update map downstream_sets[0]: No space left on device (errno 28)", 28);
            }
            Publish(downstreams);
        });
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        Volatile.Write(ref refuse, true);
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11")]));
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-2", "10.244.0.12")]));
        await Eventually.TrueAsync(() => discovery.ApplyFailures == 2, "both events refused by the data path");
        Volatile.Write(ref refuse, false);
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-3", "10.244.0.13")]));

        await Within1s(["vector-0 10.244.0.10:5514", "vector-3 10.244.0.13:5514"], "the event after the data path accepts again");
        var error = Assert.Single(logger.At(Microsoft.Extensions.Logging.LogLevel.Error));
        Assert.Equal("listener syslog: the endpoints of logging/vector changed but applying them to the data path failed: cannot update map downstream_sets[0]: No space left on device (errno 28); the previous downstreams keep serving, and the change is tried again every 5 s and at the next event", error.Message);
        Assert.Equal("syslog", error.Values["Listener"]);
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("unreachable"));
        Assert.True(discovery.ApiReachable);
    }

    [Fact]
    public async Task Watch_TheDataPathRefusesAnEventAndThenAccepts_TheChangeAppliesOnTheRetryTimerWithoutAnotherEvent()
    {
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10")]));
        var logger = new RecordingLogger();
        var refusals = 0;
        var refuse = false;
        await using var discovery = Start(timing: Fast with { ApplyRetry = TimeSpan.FromMilliseconds(200) }, logger: logger, publish: downstreams =>
        {
            if (Volatile.Read(ref refuse))
            {
                Interlocked.Increment(ref refusals);
                throw new UdpFanout.Bpf.BpfException("cannot update map downstream_sets[0]: No space left on device (errno 28)", 28);
            }
            Publish(downstreams);
        });
        await discovery.FirstSync.WaitAsync(TimeSpan.FromSeconds(10));

        Volatile.Write(ref refuse, true);
        _api.Apply(EndpointSliceJson.Slice("vector-x1", "vector", [new Pod("vector-0", "10.244.0.10"), new Pod("vector-1", "10.244.0.11")]));
        // The event and at least two retries refused; the published set stays the old one meanwhile.
        await Eventually.TrueAsync(() => Volatile.Read(ref refusals) >= 3, "the event and two retries refused");
        Assert.Equal(["vector-0 10.244.0.10:5514"], Published());
        Volatile.Write(ref refuse, false);

        // No further event: only the retry can bring the refused change in.
        await Eventually5s(["vector-0 10.244.0.10:5514", "vector-1 10.244.0.11:5514"], "the refused change, applied by a retry");
        Assert.True(discovery.ApplyFailures >= 3, $"{discovery.ApplyFailures} apply failures counted");
        Assert.Equal(discovery.ApplyFailures, Volatile.Read(ref refusals));
        Assert.Single(logger.At(Microsoft.Extensions.Logging.LogLevel.Error));
        // Logged just after the set is published, so it may come a moment after the set shows.
        await Eventually.TrueAsync(
            () => logger.Messages.Count(m => m == "listener syslog: the endpoints of logging/vector apply to the data path again") == 1, "one 'apply again' line");
    }

    private KubernetesDiscovery Start(
        WatchTiming? timing = null, string? token = null, bool bookmarks = true, Action<IReadOnlyList<Downstream>>? publish = null, Microsoft.Extensions.Logging.ILogger? logger = null,
        ForwardingMode mode = ForwardingMode.Userspace)
    {
        if (!bookmarks)
        {
            _api.BookmarkInterval = TimeSpan.FromHours(1);
        }
        var config = new KubernetesDiscoveryConfig
        {
            Namespace = "logging",
            Service = "vector",
            PortName = "syslog",
            Kubeconfig = _api.WriteKubeconfig(_directory, token),
        };
        var listener = new ListenerConfig { Name = "syslog", Bind = new IPEndPoint(IPAddress.Any, 5514), Mode = mode };
        var discovery = KubernetesDiscovery.Create(
            "syslog", config, new DestinationRules(listener, HostAddresses.LoopbackOnly), publish ?? Publish, timing ?? Fast, TimeProvider.System, logger ?? NullLogger.Instance);
        discovery.Start();
        return discovery;
    }

    private void Publish(IReadOnlyList<Downstream> downstreams)
    {
        lock (_gate)
        {
            _published = downstreams;
            _publications++;
        }
    }

    private List<string> Published()
    {
        lock (_gate)
        {
            return _published.Select(d => $"{d.Name} {d.Endpoint}").ToList();
        }
    }

    /// <summary>The issue's bound: a watch event reaches the published downstreams within a second.</summary>
    private Task Within1s(string[] expected, string what) => PublishedBecomes(expected, what, 1);

    private Task Eventually5s(string[] expected, string what) => PublishedBecomes(expected, what, 5);

    private Task PublishedBecomes(string[] expected, string what, double timeoutSeconds) =>
        Eventually.TrueAsync(() => Published().SequenceEqual(expected), $"{what}: [{string.Join(", ", expected)}], have [{string.Join(", ", Published())}]", timeoutSeconds);
}
