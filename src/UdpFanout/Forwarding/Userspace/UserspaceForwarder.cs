using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.RawSend;
using UdpFanout.Model;
using UdpFanout.Systemd;

namespace UdpFanout.Forwarding.Userspace;

/// <summary>
/// The userspace mode: <c>workers</c> threads, each with its own SO_REUSEPORT socket, sharing one round robin and
/// one downstream set. The kernel spreads datagrams over the sockets by flow hash.
/// </summary>
internal sealed class UserspaceForwarder : IListenerForwarder
{
    private readonly ListenerConfig _config;
    private readonly ILogger _logger;
    private readonly FileDescriptorStore? _store;
    private readonly List<(Socket Socket, UserspaceWorker Worker)> _workers = [];

    /// <param name="store">Where the listening sockets outlive this forwarder; null for sockets that close with it.</param>
    public UserspaceForwarder(ListenerConfig config, ILogger logger, FileDescriptorStore? store)
    {
        _config = config;
        _logger = logger;
        _store = store;
        DataPlane = new ListenerDataPlane(config, logger);
    }

    /// <summary>
    /// The eBPF modes' fallback: one worker bound to the listener's address, forwarding what their programs pass
    /// to the kernel (reassembled fragments and the like) through the same downstream set. Its socket is kept in
    /// <paramref name="store"/> like a userspace listener's, so what reaches it while the process restarts (every
    /// datagram of an af_xdp listener while no XDP program is attached) waits there.
    /// </summary>
    public static UserspaceForwarder FragmentFallback(ListenerConfig listener, ILoggerFactory loggers, FileDescriptorStore store) =>
        new(listener with { Workers = 1, Cpus = ValueList<int>.Empty }, loggers.CreateLogger<UserspaceForwarder>(), store);

    public string Name => _config.Name;

    public System.Net.IPEndPoint Bind => _config.Bind;

    /// <summary>The set, policy and counters this forwarder's workers share.</summary>
    public ListenerDataPlane DataPlane { get; }

    /// <summary>The test seam that makes one worker's next batch fail (see <see cref="InjectedFault"/>).</summary>
    public InjectedFault Fault { get; } = new();

    public Task StartAsync(DownstreamSet initial, CancellationToken cancellationToken)
    {
        DataPlane.Update(initial);
        for (var i = 0; i < _config.Workers; i++)
        {
            var socket = _store is null
                ? ListenSocket.Open(_config.Bind, _config.RecvBufferBytes, _logger, _config.Name)
                : ListenSocket.Open(_config.Bind, _config.RecvBufferBytes, _logger, _config.Name, _store, i);
            IDatagramSender sender;
            try
            {
                // From the listener's address, as downstreams saw before the sending sockets became separate
                // (or from the client's, with preserve_source).
                sender = DatagramSenders.Open(_config, _config.Bind.Address, _logger);
            }
            catch
            {
                Release(socket, i);
                throw;
            }
            var cpu = _config.Cpus.Count > 0 ? _config.Cpus[i % _config.Cpus.Count] : -1;
            _workers.Add((socket, new UserspaceWorker(socket, sender, DataPlane, Fault, _config.Name, i, _config.BatchSize, _config.MaxPacketSize, cpu, _logger)));
        }
        // Every socket is bound before any worker runs, so the reuseport group is complete when READY=1 is sent.
        foreach (var (_, worker) in _workers)
        {
            worker.Start();
        }
        return Task.CompletedTask;
    }

    public void UpdateDownstreams(DownstreamSet set) => DataPlane.Update(set);

    public ListenerStats ReadStats()
    {
        var stats = new StatsBuilder();
        AddStatsTo(stats);
        return stats.Build();
    }

    public void AddStatsTo(StatsBuilder stats)
    {
        foreach (var (_, worker) in _workers)
        {
            // A datagram the kernel dropped at the socket was received by the listener and not forwarded.
            var lost = worker.ReceiveDrops.Read();
            stats.Add(worker.Counters).AddReceived(lost, 0).AddDropped(DropReason.ReceiveBufferFull, lost);
        }
        stats.Add(ModeCounter.WorkerRestarts(_workers.Sum(w => w.Worker.Restarts)));
        if (_config.PreserveSource)
        {
            stats.Add(ModeCounter.SourceNotKept(_workers.Sum(w => Volatile.Read(ref w.Worker.Counters.SourceNotKept))));
        }
        DataPlane.AddTo(stats);
    }

    public void ForgetDownstreams(IReadOnlyCollection<Downstream> gone) => DataPlane.Forget(gone);

    private DisposeOnce _disposed;

    public ValueTask DisposeAsync()
    {
        if (!_disposed.First())
        {
            return ValueTask.CompletedTask;
        }
        foreach (var (_, worker) in _workers)
        {
            worker.Stop();
        }
        for (var i = 0; i < _workers.Count; i++)
        {
            _workers[i].Worker.Dispose();
            Release(_workers[i].Socket, i);
        }
        DataPlane.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Closes a listening socket, or gives it back to the store, where the datagrams in it wait for the next listener.</summary>
    private void Release(Socket socket, int worker)
    {
        if (_store is null)
        {
            socket.Dispose();
        }
        else
        {
            _store.Return(ListenSocket.StoreName(_config.Name, worker), socket);
        }
    }

}
