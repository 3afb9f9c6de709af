namespace UdpFanout.Configuration;

/// <summary>Reads and validates a config file.</summary>
internal static class ConfigLoader
{
    /// <summary>Throws <see cref="ConfigException"/> listing every error in the file.</summary>
    public static FanoutConfig Load(string path) => throw new NotImplementedException("config helper writes this");
}
