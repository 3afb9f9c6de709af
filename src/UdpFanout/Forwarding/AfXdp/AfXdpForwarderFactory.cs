using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Systemd;

namespace UdpFanout.Forwarding.AfXdp;

internal sealed class AfXdpForwarderFactory(ILoggerFactory loggers, FileDescriptorStore store) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.AfXdp;

    public IListenerForwarder Create(ListenerConfig listener) => new AfXdpForwarder(listener, loggers, store);
}
