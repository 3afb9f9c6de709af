using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Configuration;

/// <summary>Reads and validates a config file.</summary>
internal static class ConfigLoader
{
    /// <summary>
    /// Throws <see cref="ConfigException"/> listing every error in the file. <paramref name="host"/> holds the
    /// addresses a downstream is compared with (see <see cref="HostAddresses"/>); without it only loopback is local.
    /// </summary>
    public static FanoutConfig Load(string path, HostAddresses? host = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(path, 1, 1, "(file)", $"cannot read the config file: {e.Message}")]);
        }
        return Parse(text, path, host);
    }

    public static FanoutConfig Parse(string text, string file, HostAddresses? host = null)
    {
        var errors = new ConfigErrors(file);
        YamlStream stream;
        try
        {
            stream = YamlLimits.Load(text, errors) ?? throw new ConfigException(errors.All);
        }
        catch (YamlException e)
        {
            errors.Add(e.Start, "(yaml)", YamlMessage(e));
            throw new ConfigException(errors.All);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            var at = stream.Documents.Count == 0 ? Mark.Empty : stream.Documents[0].RootNode.Start;
            errors.Add(at, "(root)", "expected a mapping with a listeners: list");
            throw new ConfigException(errors.All);
        }
        var config = Parse(new YamlSection(root, "", errors), host ?? HostAddresses.LoopbackOnly) with { SourcePath = file };
        if (errors.All.Count > 0)
        {
            throw new ConfigException(errors.All.OrderBy(e => e.Line).ThenBy(e => e.Column).ToArray());
        }
        return config;
    }

    private static FanoutConfig Parse(YamlSection root, HostAddresses host)
    {
        var listeners = Listeners(root);
        var health = root.Section("health") is { } h ? HealthParser.Parse(h) : new HealthConfig();
        var tuning = Tuning(root);
        new ListenersValidator(host).Validate(listeners, health, tuning, root);
        var metrics = root.Section("metrics") is { } m ? Metrics(m) : new MetricsConfig();
        var memlock = Memlock(root);
        root.ReportUnknownKeys();
        return new FanoutConfig { Listeners = new(listeners.Select(l => l.Config)), Health = health, Metrics = metrics, Tuning = new(tuning.Select(t => t.Config)), MemlockBytes = memlock };
    }

    private static List<(ListenerConfig Config, YamlSection At)> Listeners(YamlSection root)
    {
        var listeners = new List<(ListenerConfig, YamlSection)>();
        var sections = root.Sections("listeners", required: true).ToArray();
        if (sections.Length == 0 && root.List("listeners") is { } empty)
        {
            root.Errors.Add(empty, "listeners", "the list is empty: configure at least one listener");
        }
        var byName = new Dictionary<string, YamlSection>(StringComparer.Ordinal);
        foreach (var section in sections)
        {
            var listener = ListenerParser.Parse(section);
            // Names are compared even for listeners with other errors, so a duplicate is never hidden behind them.
            if (section.Get("name") is YamlScalarNode { Value: { } name } nameNode)
            {
                if (byName.TryGetValue(name, out var first))
                {
                    root.Errors.Add(nameNode, section.PathOf("name"), $"duplicate listener name '{name}' (first at line {first.Node.Start.Line})");
                    continue;
                }
                byName[name] = section;
            }
            if (listener is not null)
            {
                listeners.Add((listener, section));
            }
        }
        return listeners;
    }

    private static MetricsConfig Metrics(YamlSection s)
    {
        var defaults = new MetricsConfig();
        var config = defaults with { Enabled = s.Bool("enabled") ?? defaults.Enabled, Bind = s.Endpoint("bind") ?? defaults.Bind };
        s.ReportUnknownKeys();
        return config;
    }

    private static List<(InterfaceTuningConfig Config, YamlSection At)> Tuning(YamlSection root)
    {
        var result = new List<(InterfaceTuningConfig Config, YamlSection At)>();
        foreach (var section in root.Sections("tuning"))
        {
            if (TuningParser.Parse(section) is not { } tuning)
            {
                continue;
            }
            if (result.Any(t => t.Config.Interface == tuning.Interface))
            {
                root.Errors.Add(section.Get("interface")!, section.PathOf("interface"), $"interface '{tuning.Interface}' is tuned twice");
                continue;
            }
            result.Add((tuning, section));
        }
        return result;
    }

    private static ulong? Memlock(YamlSection root)
    {
        if (root.Get("memlock") is not { } node)
        {
            return null;
        }
        var text = (node as YamlScalarNode)?.Value;
        if (text == "unlimited")
        {
            return ulong.MaxValue;
        }
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes > 0)
        {
            return bytes;
        }
        root.Errors.Add(node, "memlock", $"'{text}' is neither \"unlimited\" nor a number of bytes");
        return null;
    }

    /// <summary>YamlDotNet prefixes its messages with the position, which the error already carries.</summary>
    private static string YamlMessage(YamlException e)
    {
        var message = e.Message;
        var close = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line", StringComparison.Ordinal) && close > 0 ? message[(close + 3)..] : message;
    }
}
