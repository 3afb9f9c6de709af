using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Forwarding;

/// <summary>The one place that maps a listener's mode to its data path.</summary>
internal sealed class ForwarderRegistry(IEnumerable<IForwarderFactory> factories)
{
    private readonly Dictionary<ForwardingMode, IForwarderFactory> _byMode = factories.ToDictionary(f => f.Mode);

    public IListenerForwarder Create(ListenerConfig listener) =>
        _byMode.TryGetValue(listener.Mode, out var factory)
            ? factory.Create(listener)
            : throw new ForwarderException(
                $"listener '{listener.Name}': mode {listener.Mode.YamlName()} is not available in this build");
}
