using System.Reflection;
using Microsoft.Extensions.Hosting;
using UdpFanout.Configuration;
using UdpFanout.Forwarding.Xdp;
using Microsoft.Extensions.Logging;
using UdpFanout.Model;
using UdpFanout.Logging;
using UdpFanout.Tuning;

namespace UdpFanout.Hosting;

/// <summary>
/// <c>udp-fanout [run] --config FILE [--listener NAME]</c>, <c>udp-fanout check --config FILE</c>,
/// <c>udp-fanout release</c>, <c>udp-fanout demo</c>, <c>udp-fanout --version</c>.
/// </summary>
internal static class CommandLine
{
    public const string DefaultConfigPath = "/etc/udp-fanout/config.yaml";

    private const string Usage = """
        usage: udp-fanout [run] [--config FILE] [--listener NAME]   run the listeners (all, or the named one)
               udp-fanout check [--config FILE]                     validate a config file
               udp-fanout tune [--config FILE] --interface IFACE    apply the interface's tuning: entry (MTU, channels)
               udp-fanout release                                   take the XDP programs of stopped listeners out of the interfaces
               udp-fanout demo [--datagrams N]                      forward to local receivers and show the counts
               udp-fanout --version
        FILE defaults to /etc/udp-fanout/config.yaml.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var options = CommandOptions.Parse(args);
        if (options.Error is not null)
        {
            Console.Error.WriteLine($"udp-fanout: {options.Error}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        switch (options.Command)
        {
            case "help":
                Console.WriteLine(Usage);
                return 0;
            case "version":
                Console.WriteLine($"udp-fanout {Version}");
                return 0;
            case "check":
                return Check(options.ConfigPath);
            case "demo":
                return await Demo.RunAsync(options.Datagrams);
            case "tune":
                return Tune(options.ConfigPath, options.Interface);
            case "release":
                return Release();
            default:
                return await RunDaemonAsync(options.ConfigPath, options.Listener);
        }
    }

    /// <summary>
    /// "&lt;3&gt;" when stderr goes to the journal (systemd sets JOURNAL_STREAM), so journald files the line at
    /// priority err and `journalctl -p err` shows it; nothing on a terminal.
    /// </summary>
    private static string ErrorPrefix => Environment.GetEnvironmentVariable("JOURNAL_STREAM") is null ? "" : "<3>";

    public static string Version =>
        typeof(CommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    private static int Check(string path)
    {
        try
        {
            // The host's addresses too: check is what a reload runs first (ExecReload), on the host that runs the daemon.
            var config = ConfigLoader.Load(path, HostAddresses.Read());
            foreach (var listener in config.Listeners)
            {
                Console.WriteLine(ListenerSummary.Describe(listener));
            }
            return 0;
        }
        catch (ConfigException e)
        {
            Report(e);
            Console.Error.WriteLine($"{ErrorPrefix}{path}: {e.Errors.Count} error(s)");
            return 1;
        }
    }

    private static int Tune(string path, string? iface)
    {
        if (iface is null)
        {
            Console.Error.WriteLine("udp-fanout: tune needs --interface IFACE");
            return 2;
        }
        try
        {
            var config = ConfigLoader.Load(path);
            var tuning = config.Tuning.FirstOrDefault(t => t.Interface == iface);
            if (tuning is null)
            {
                Console.Error.WriteLine($"{ErrorPrefix}udp-fanout: {path} has no tuning: entry for {iface}");
                return 1;
            }
            using var loggers = LoggerFactory.Create(logging => logging.AddFanoutLogging());
            new InterfaceTuner(loggers.CreateLogger("UdpFanout.Tuning")).Apply(tuning);
            return 0;
        }
        catch (UserFixableException e)
        {
            return Report(e);
        }
    }

    /// <summary>
    /// What the unit runs after every stop (ExecStopPost=), a crash included: the programs that listeners whose process
    /// is gone left in the interfaces' pinned XDP chains come out, and chains nobody holds are removed.
    /// </summary>
    private static int Release()
    {
        try
        {
            foreach (var line in XdpChainRelease.Run())
            {
                Console.WriteLine(line);
            }
            return 0;
        }
        catch (UserFixableException e)
        {
            return Report(e);
        }
    }

    private static async Task<int> RunDaemonAsync(string path, string? listener)
    {
        FanoutConfig config;
        try
        {
            config = ConfigLoader.Load(path, HostAddresses.Read());
            new ListenerSelection(listener).Select(config);
            MemlockLimit.Apply(config.MemlockBytes);
        }
        catch (UserFixableException e)
        {
            return Report(e);
        }
        using var host = DaemonHost.Build(path, config, listener);
        try
        {
            await host.RunAsync();
            return 0;
        }
        catch (UserFixableException e)
        {
            return Report(e);
        }
    }

    /// <summary>
    /// The one place the command line reports an error the user can fix: its lines on stderr, no stack trace
    /// (a config error already starts with file:line:column; anything else is prefixed with the program's name),
    /// and exit code 1.
    /// </summary>
    private static int Report(UserFixableException e)
    {
        var prefix = e is ConfigException ? "" : "udp-fanout: ";
        foreach (var line in e.Lines)
        {
            Console.Error.WriteLine($"{ErrorPrefix}{prefix}{line}");
        }
        return 1;
    }
}
