using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// How a forwarding thread sends its batches on: from a UDP socket of the proxy (<see cref="SocketSender"/>), or
/// with the client's source address and port on a raw socket (<see cref="RawSend.RawSender"/>, the listener's
/// <c>preserve_source</c>). Either sends the batch with one sendmmsg where it can, never blocks, counts every
/// datagram it was given as forwarded or dropped, and allocates nothing per datagram. One thread owns each.
/// </summary>
internal unsafe interface IDatagramSender : IDisposable
{
    /// <summary>
    /// Queues <paramref name="length"/> bytes at <paramref name="payload"/> for downstream <paramref name="target"/>;
    /// <paramref name="source"/>, the client's address and port as received (an IPv4 client of a dual-stack socket
    /// as ::ffff:a.b.c.d), is what a raw sender puts in the datagram's source. The payload must stay where it is
    /// until <see cref="Send"/> returns.
    /// </summary>
    void Add(void* payload, uint length, in sockaddr_inet source, int target, ActiveDownstreams downstreams);

    /// <summary>Sends every queued datagram, counts each as forwarded or dropped, and empties the batch.</summary>
    void Send(ActiveDownstreams downstreams, WorkerCounters counters);

    /// <summary>
    /// Empties the batch of a thread that failed before or while sending it: what was sent stays counted, also per
    /// downstream; the rest is the caller's to count as dropped.
    /// </summary>
    void Abandon();

    /// <summary>What the thread does while no datagram arrives: take in the ICMP errors the network returned, if any come to this sender.</summary>
    void ReadErrors(ActiveDownstreams downstreams);
}
