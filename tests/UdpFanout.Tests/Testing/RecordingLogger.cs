using Microsoft.Extensions.Logging;

namespace UdpFanout.Tests.Testing;

/// <summary>Keeps every entry logged through it: its level, message and named values (the journal's fields).</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly List<Entry> _entries = [];

    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToArray();
            }
        }
    }

    public IReadOnlyList<string> Messages => Entries.Select(e => e.Message).ToArray();

    public IReadOnlyList<Entry> At(LogLevel level) => Entries.Where(e => e.Level == level).ToArray();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
        var entry = new Entry(logLevel, formatter(state, exception), values.Where(v => v.Key != "{OriginalFormat}").ToDictionary(v => v.Key, v => v.Value?.ToString()));
        lock (_entries)
        {
            _entries.Add(entry);
        }
    }

    internal sealed record Entry(LogLevel Level, string Message, IReadOnlyDictionary<string, string?> Values);
}
