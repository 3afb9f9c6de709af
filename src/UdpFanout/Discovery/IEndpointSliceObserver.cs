using k8s.Models;

namespace UdpFanout.Discovery;

/// <summary>What an <see cref="EndpointSliceWatch"/> tells its owner. Calls come from the watch task, one at a time.</summary>
internal interface IEndpointSliceObserver
{
    /// <summary>The service's EndpointSlices after a list or a watch event.</summary>
    void SlicesChanged(IReadOnlyCollection<V1EndpointSlice> slices);

    /// <summary>A list or watch request succeeded.</summary>
    void Reachable();

    /// <summary>A list or watch failed; the watch retries after <paramref name="retryIn"/>.</summary>
    void Unreachable(Exception error, TimeSpan retryIn);

    /// <summary>The server said the resume point is gone; the watch lists everything again.</summary>
    void Relisting(string reason);
}
