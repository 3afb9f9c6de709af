namespace UdpFanout.Hosting;

/// <summary>The parsed command line; <see cref="Error"/> says what was wrong with it.</summary>
internal sealed record CommandOptions
{
    public string Command { get; init; } = "run";
    public string ConfigPath { get; init; } = CommandLine.DefaultConfigPath;
    public string? Listener { get; init; }
    public string? Interface { get; init; }
    public int Datagrams { get; init; } = 30_000;
    public string? Error { get; init; }

    public static CommandOptions Parse(IReadOnlyList<string> args)
    {
        var options = new CommandOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? Value() => i + 1 < args.Count ? args[++i] : null;
            options = arg switch
            {
                "run" or "check" or "demo" or "tune" or "release" when i == 0 => options with { Command = arg },
                "--version" or "version" => options with { Command = "version" },
                "-h" or "--help" or "help" => options with { Command = "help" },
                "--config" or "-c" => Value() is { } path ? options with { ConfigPath = path } : options with { Error = $"{arg} needs a file" },
                "--listener" or "-l" => Value() is { } name ? options with { Listener = name } : options with { Error = $"{arg} needs a name" },
                "--interface" or "-i" => Value() is { } iface ? options with { Interface = iface } : options with { Error = $"{arg} needs an interface name" },
                "--datagrams" => int.TryParse(Value(), out var n) && n > 0 ? options with { Datagrams = n } : options with { Error = "--datagrams needs a positive number" },
                _ => options with { Error = $"unknown argument '{arg}'" },
            };
            if (options.Error is not null)
            {
                return options;
            }
        }
        return options;
    }
}
