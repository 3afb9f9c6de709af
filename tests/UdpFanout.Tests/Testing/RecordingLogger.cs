using Microsoft.Extensions.Logging;

namespace UdpFanout.Tests.Testing;

/// <summary>A logger that keeps every formatted message, for tests that assert what was logged and how often.</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly List<string> _messages = [];

    /// <summary>A copy, safe to read while background tasks (a watch, a probe loop) still log.</summary>
    public List<string> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_messages)
        {
            _messages.Add(formatter(state, exception));
        }
    }
}
