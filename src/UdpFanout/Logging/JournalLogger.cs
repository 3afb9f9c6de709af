using Microsoft.Extensions.Logging;

namespace UdpFanout.Logging;

/// <summary>
/// Writes each log entry as one journald record with its priority and the message's named values as fields,
/// so <c>journalctl -u udp-fanout@x LISTENER=syslog -p warning</c> works.
/// </summary>
internal sealed class JournalLogger(string category, JournalSocket socket) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }
        var message = formatter(state, exception);
        var record = new JournalRecord()
            .Add("MESSAGE", exception is null ? message : $"{message}: {exception.Message}")
            .Add("PRIORITY", Priority(logLevel))
            .Add("SYSLOG_IDENTIFIER", "udp-fanout")
            .Add("LOGGER", category);
        if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
        {
            foreach (var (key, value) in values)
            {
                if (key != "{OriginalFormat}" && value is not null)
                {
                    record.Add(JournalRecord.FieldName(key), value.ToString() ?? "");
                }
            }
        }
        if (exception is not null)
        {
            record.Add("EXCEPTION", exception.ToString());
        }
        socket.Send(record);
    }

    /// <summary>syslog(3) priorities, as journalctl -p reads them.</summary>
    private static string Priority(LogLevel level) => level switch
    {
        LogLevel.Critical => "2",
        LogLevel.Error => "3",
        LogLevel.Warning => "4",
        LogLevel.Information => "6",
        _ => "7",
    };
}
