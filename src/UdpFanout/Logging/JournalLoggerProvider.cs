using Microsoft.Extensions.Logging;

namespace UdpFanout.Logging;

internal sealed class JournalLoggerProvider(JournalSocket socket) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new JournalLogger(categoryName, socket);

    public void Dispose() => socket.Dispose();
}
