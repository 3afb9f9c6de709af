using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Systemd;

namespace UdpFanout.Forwarding.TcEbpf;

internal sealed class TcEbpfForwarderFactory(ILoggerFactory loggers, FileDescriptorStore store) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.TcEbpf;

    public IListenerForwarder Create(ListenerConfig listener) => new TcEbpfForwarder(listener, loggers, store);
}
