namespace UdpFanout.Configuration;

/// <summary>
/// Which listeners of the config this process runs: all of them, or the one named by <c>--listener</c>
/// (one per systemd instance).
/// </summary>
internal sealed class ListenerSelection(string? only)
{
    public string? Only { get; } = only;

    /// <summary>Throws <see cref="ConfigException"/> when the named listener is not in the config.</summary>
    public IReadOnlyList<ListenerConfig> Select(FanoutConfig config)
    {
        if (Only is null)
        {
            return config.Listeners;
        }
        var match = config.Listeners.Where(l => l.Name == Only).ToArray();
        if (match.Length == 0)
        {
            var known = string.Join(", ", config.Listeners.Select(l => l.Name));
            throw new ConfigException([new ConfigError(config.SourcePath, 1, 1, "listeners", $"no listener named '{Only}' (the file has: {known})")]);
        }
        return match;
    }
}
