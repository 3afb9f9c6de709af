namespace UdpFanout.Configuration;

/// <summary>A config file was refused; <see cref="Errors"/> holds every problem found, not just the first.</summary>
internal sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : Exception(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}
