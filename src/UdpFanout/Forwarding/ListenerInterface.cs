using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Forwarding;

/// <summary>The interface an eBPF mode attaches to, resolved in the calling thread's network namespace.</summary>
internal static class ListenerInterface
{
    public static (string Name, int Index) Resolve(ListenerConfig listener)
    {
        var name = listener.Interface ?? throw new ForwarderException($"listener '{listener.Name}': mode {listener.Mode.YamlName()} needs an interface");
        var index = (int)Interop.Libc.if_nametoindex(name);
        return index != 0
            ? (name, index)
            : throw new ForwarderException($"listener '{listener.Name}': interface {name} does not exist (`ip link` lists the interfaces; fix interface: in the config)");
    }
}
