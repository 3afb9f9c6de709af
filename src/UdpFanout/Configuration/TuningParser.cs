namespace UdpFanout.Configuration;

/// <summary>Reads one entry of the top-level <c>tuning:</c> list.</summary>
internal static class TuningParser
{
    public static InterfaceTuningConfig? Parse(YamlSection s)
    {
        var iface = s.String("interface", required: true);
        var mtu = s.Int("mtu", 68, 65535);
        var channels = s.Int("combined_channels", 1, 1024);
        s.ReportUnknownKeys();
        return iface is null ? null : new InterfaceTuningConfig(iface, mtu, channels);
    }
}
