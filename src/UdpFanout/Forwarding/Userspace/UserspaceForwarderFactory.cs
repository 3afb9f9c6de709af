using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Systemd;

namespace UdpFanout.Forwarding.Userspace;

internal sealed class UserspaceForwarderFactory(ILoggerFactory loggers, FileDescriptorStore store) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.Userspace;

    public IListenerForwarder Create(ListenerConfig listener) =>
        new UserspaceForwarder(listener, loggers.CreateLogger<UserspaceForwarder>(), store);
}
