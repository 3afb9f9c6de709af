using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding.AfXdp;

internal sealed class AfXdpForwarderFactory(ILoggerFactory loggers) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.AfXdp;

    public IListenerForwarder Create(ListenerConfig listener) => new AfXdpForwarder(listener, loggers);
}
