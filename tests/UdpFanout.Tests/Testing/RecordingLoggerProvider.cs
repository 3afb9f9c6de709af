using Microsoft.Extensions.Logging;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Gives one <see cref="RecordingLogger"/> for every category, so that a type which takes an
/// <see cref="ILoggerFactory"/> can be watched: <c>new LoggerFactory([new RecordingLoggerProvider(log)])</c>.
/// </summary>
internal sealed class RecordingLoggerProvider(RecordingLogger logger) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => logger;

    public void Dispose()
    {
        // The logger belongs to the test, which reads it after the factory is gone.
    }
}
