using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace UdpFanout.Logging;

internal static class FanoutLogging
{
    /// <summary>
    /// Under systemd (JOURNAL_STREAM set, the journal's socket present) records go to journald natively, with their
    /// priority and structured fields (LISTENER=, DOWNSTREAM=, ...); anywhere else, one line per entry on the console.
    /// </summary>
    public static ILoggingBuilder AddFanoutLogging(this ILoggingBuilder logging)
    {
        logging.ClearProviders()
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning)
            // The host logs a start failure with a stack trace; the command line reports it once, as one clear line.
            .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        if (Environment.GetEnvironmentVariable("JOURNAL_STREAM") is not null && File.Exists(JournalSocket.DefaultPath))
        {
            logging.Services.AddSingleton<ILoggerProvider>(new JournalLoggerProvider(new JournalSocket(JournalSocket.DefaultPath)));
            return logging;
        }
        return logging
            .AddConsole(o => o.FormatterName = ConsoleFormatterNames.Simple)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
    }
}
