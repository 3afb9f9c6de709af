using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace UdpFanout.Logging;

internal static class FanoutLogging
{
    /// <summary>
    /// Console logging; under systemd, AddSystemd switches it to the "&lt;N&gt;" priority prefixes that journald
    /// turns into record priorities, so <c>journalctl -p warning</c> shows warnings and errors only.
    /// </summary>
    public static ILoggingBuilder AddFanoutLogging(this ILoggingBuilder logging) =>
        logging
            .AddConsole(o => o.FormatterName = ConsoleFormatterNames.Simple)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            })
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning);
}
