using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>Sends from a UDP socket of the proxy, whose address downstreams see as the source (the default).</summary>
internal sealed unsafe class SocketSender(SendSocket socket, int batch) : IDatagramSender
{
    private readonly SendBatch _batch = new(batch, socket.Ipv6Wildcard);

    public void Add(void* payload, uint length, in sockaddr_inet source, int target, ActiveDownstreams downstreams) =>
        _batch.Add(payload, length, target, downstreams);

    public void Send(ActiveDownstreams downstreams, WorkerCounters counters) => _batch.Send(socket, downstreams, counters);

    public void Abandon() => _batch.Abandon();

    public void ReadErrors(ActiveDownstreams downstreams) => socket.ReadErrors(downstreams);

    public void Dispose()
    {
        _batch.Dispose();
        socket.Dispose();
    }
}
