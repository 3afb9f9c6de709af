using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Systemd;

namespace UdpFanout.Forwarding.TcEbpf;

internal sealed class TcEbpfForwarderFactory(ILoggerFactory loggers, FileDescriptorStore store, CurrentConfig config, ListenerSelection selection) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.TcEbpf;

    public IListenerForwarder Create(ListenerConfig listener) =>
        new TcEbpfForwarder(listener, loggers, store, xdpSlotOwner: AfXdpElsewhere(listener));

    /// <summary>
    /// An af_xdp listener on the same interface that another process runs (one systemd instance per listener). An
    /// interface has one XDP slot and only one process's listeners can share it: af_xdp cannot work without it, the
    /// XDP layer is only faster with it, so the layer leaves it to af_xdp whichever unit starts first.
    /// </summary>
    private string? AfXdpElsewhere(ListenerConfig listener) =>
        selection.RunElsewhere(config.Value).FirstOrDefault(l => l.Mode == ForwardingMode.AfXdp && l.Interface == listener.Interface)?.Name;
}
