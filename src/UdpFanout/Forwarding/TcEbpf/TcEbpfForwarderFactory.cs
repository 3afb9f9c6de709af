using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;

namespace UdpFanout.Forwarding.TcEbpf;

internal sealed class TcEbpfForwarderFactory(ILoggerFactory loggers) : IForwarderFactory
{
    public ForwardingMode Mode => ForwardingMode.TcEbpf;

    public IListenerForwarder Create(ListenerConfig listener) => new TcEbpfForwarder(listener, loggers);
}
