using UdpFanout.Configuration;
using UdpFanout.Model;

namespace UdpFanout.Forwarding;

internal static class IcmpErrors
{
    private const byte DestinationUnreachable = 3;
    private const byte TimeExceeded = 11;
    private const byte Icmp6DestinationUnreachable = 1;
    private const byte Icmp6PacketTooBig = 2;
    private const byte Icmp6TimeExceeded = 3;
    private const byte Icmp6ParameterProblem = 4;

    private static readonly string[] Labels = Enum.GetValues<IcmpError>().Select(e => e.YamlName()).ToArray();

    public static int Count => Labels.Length;

    /// <summary>The value of the <c>type</c> label: <c>port_unreachable</c>, <c>host_unreachable</c>, ...</summary>
    public static string MetricLabel(this IcmpError error) => Labels[(int)error];

    /// <summary>Classifies an ICMPv4 error by its type and code (RFC 792, RFC 1812 section 5.2.7.1).</summary>
    public static IcmpError Classify(byte type, byte code) => (type, code) switch
    {
        (DestinationUnreachable, 0 or 6 or 11) => IcmpError.NetUnreachable,
        (DestinationUnreachable, 1 or 7 or 12) => IcmpError.HostUnreachable,
        (DestinationUnreachable, 2) => IcmpError.ProtocolUnreachable,
        (DestinationUnreachable, 3) => IcmpError.PortUnreachable,
        (DestinationUnreachable, 4) => IcmpError.FragmentationNeeded,
        (DestinationUnreachable, 9 or 10 or 13) => IcmpError.AdministrativelyProhibited,
        (TimeExceeded, _) => IcmpError.TimeExceeded,
        _ => IcmpError.Other,
    };

    /// <summary>Classifies an ICMPv6 error by its type and code (RFC 4443) into the same kinds as ICMPv4's.</summary>
    public static IcmpError Classify6(byte type, byte code) => (type, code) switch
    {
        (Icmp6DestinationUnreachable, 0 or 2) => IcmpError.NetUnreachable,
        (Icmp6DestinationUnreachable, 3) => IcmpError.HostUnreachable,
        (Icmp6DestinationUnreachable, 4) => IcmpError.PortUnreachable,
        (Icmp6DestinationUnreachable, 1 or 5 or 6) => IcmpError.AdministrativelyProhibited,
        (Icmp6PacketTooBig, _) => IcmpError.FragmentationNeeded,
        (Icmp6TimeExceeded, _) => IcmpError.TimeExceeded,
        // A parameter problem with an unrecognized Next Header is IPv6's protocol unreachable.
        (Icmp6ParameterProblem, 1) => IcmpError.ProtocolUnreachable,
        _ => IcmpError.Other,
    };
}
