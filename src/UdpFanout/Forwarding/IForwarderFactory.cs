using UdpFanout.Configuration;

namespace UdpFanout.Forwarding;

/// <summary>Makes the data path for listeners of one <see cref="ForwardingMode"/>.</summary>
internal interface IForwarderFactory
{
    ForwardingMode Mode { get; }

    IListenerForwarder Create(ListenerConfig listener);
}
