using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Configuration;

/// <summary>Collects every error found in one file, so the user sees all of them at once.</summary>
internal sealed class ConfigErrors(string file)
{
    private readonly List<ConfigError> _errors = [];

    public string File { get; } = file;

    public IReadOnlyList<ConfigError> All => _errors;

    public void Add(YamlNode at, string path, string message) => Add(at.Start, path, message);

    public void Add(Mark at, string path, string message) =>
        _errors.Add(new ConfigError(File, (int)at.Line, (int)at.Column, path, message));
}
