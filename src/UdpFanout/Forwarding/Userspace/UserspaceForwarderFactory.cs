using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding.Userspace;

internal sealed class UserspaceForwarderFactory(ILoggerFactory loggers) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.Userspace;

    public IListenerForwarder Create(ListenerConfig listener) =>
        new UserspaceForwarder(listener, loggers.CreateLogger<UserspaceForwarder>());
}
