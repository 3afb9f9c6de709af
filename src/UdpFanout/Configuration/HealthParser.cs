namespace UdpFanout.Configuration;

/// <summary>Reads the top-level <c>health:</c> section.</summary>
internal static class HealthParser
{
    public static HealthConfig Parse(YamlSection s)
    {
        var defaults = new HealthConfig();
        var protocol = s.Enum<HealthProtocol>("protocol") ?? defaults.Protocol;
        var interval = s.Seconds("interval_secs", 0.05, 3600) ?? defaults.Interval;
        var timeout = s.Seconds("timeout_secs", 0.01, 3600) ?? defaults.Timeout;
        if (timeout >= interval && s.Get("timeout_secs") is { } timeoutNode)
        {
            s.Errors.Add(timeoutNode, s.PathOf("timeout_secs"), $"must be shorter than interval_secs ({interval.TotalSeconds} s)");
        }
        var probePort = s.Int("probe_port", 1, 65535);
        if (probePort is not null && protocol != HealthProtocol.UdpEcho)
        {
            s.Errors.Add(s.Get("probe_port")!, s.PathOf("probe_port"), "only applies to protocol udp_echo");
        }
        var config = defaults with
        {
            Enabled = s.Bool("enabled") ?? defaults.Enabled,
            Interval = interval,
            Timeout = timeout,
            Protocol = protocol,
            ProbePort = probePort,
            UnhealthyThreshold = s.Int("unhealthy_threshold", 1, 100) ?? defaults.UnhealthyThreshold,
            HealthyThreshold = s.Int("healthy_threshold", 1, 100) ?? defaults.HealthyThreshold,
            FailOpen = s.Bool("fail_open") ?? defaults.FailOpen,
        };
        s.ReportUnknownKeys();
        return config;
    }
}
