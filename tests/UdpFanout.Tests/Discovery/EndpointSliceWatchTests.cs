using System.Net;
using k8s;
using k8s.Models;
using UdpFanout.Discovery;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Discovery;

/// <summary>The watch loop itself, with the real KubernetesClient against the loopback API server.</summary>
public sealed class EndpointSliceWatchTests : IDisposable
{
    private readonly FakeKubernetesApi _api = new();
    private readonly string _directory = Directory.CreateTempSubdirectory("udp-fanout-watch-").FullName;

    public void Dispose()
    {
        _api.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Run_StopArrivesWhileTheClientTurnsARefusalIntoItsException_EndsQuietly()
    {
        // The race CI met: the stop lands after the 401 has arrived and before the client has thrown for it, so the
        // request in flight ends with the refusal rather than a cancellation. That must end the loop, not fail it
        // (a failed loop fails the stop of the listener that owns it).
        using var stop = new CancellationTokenSource();
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(_api.WriteKubeconfig(_directory, "wrong-token"));
        using var client = new Kubernetes(config, new StopOnRefusal(stop));
        var observer = new Observer();
        var watch = new EndpointSliceWatch(client, "logging", "vector", new WatchTiming(), TimeProvider.System, observer);

        await watch.RunAsync(stop.Token).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(stop.IsCancellationRequested);
        Assert.Single(_api.Requests);
        Assert.Equal(0, observer.Calls);
    }

    /// <summary>Asks for the stop while the client reads a 401's body: after its last look at the stop.</summary>
    private sealed class StopOnRefusal(CancellationTokenSource stop) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
                response.Content = new StopWhenRead(body, stop);
            }
            return response;
        }
    }

    private sealed class StopWhenRead(byte[] body, CancellationTokenSource stop) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stop.CancelAsync();
            await stream.WriteAsync(body);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }

    private sealed class Observer : IEndpointSliceObserver
    {
        public int Calls { get; private set; }

        public void SlicesChanged(IReadOnlyCollection<V1EndpointSlice> slices) => Calls++;

        public void Reachable() => Calls++;

        public void Unreachable(Exception error, TimeSpan retryIn) => Calls++;

        public void Relisting(string reason) => Calls++;
    }
}
