using UdpFanout.Model;

namespace UdpFanout.Configuration;

/// <summary>A config file was refused; <see cref="Errors"/> holds every problem found, not just the first.</summary>
internal sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : UserFixableException(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;

    public override IReadOnlyList<string> Lines => Errors.Select(e => e.ToString()).ToArray();
}
