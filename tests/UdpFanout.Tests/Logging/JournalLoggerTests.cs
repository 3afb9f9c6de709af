using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using UdpFanout.Logging;

namespace UdpFanout.Tests.Logging;

public sealed class JournalLoggerTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"journal-{Guid.NewGuid():N}.sock");
    private readonly Socket _journal = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public JournalLoggerTests() => _journal.Bind(new UnixDomainSocketEndPoint(_path));

    public void Dispose()
    {
        _journal.Dispose();
        File.Delete(_path);
    }

    [Fact]
    public void Log_Warning_SendsPriorityMessageAndNamedValuesAsFields()
    {
        using var provider = new JournalLoggerProvider(new JournalSocket(_path));
        var logger = provider.CreateLogger("UdpFanout.Health");

        logger.LogWarning("downstream {Downstream} of listener {Listener} is down", "sink-1", "syslog");

        var fields = ReceiveRecord();
        Assert.Equal("4", fields["PRIORITY"]);
        Assert.Equal("downstream sink-1 of listener syslog is down", fields["MESSAGE"]);
        Assert.Equal("syslog", fields["LISTENER"]);
        Assert.Equal("sink-1", fields["DOWNSTREAM"]);
        Assert.Equal("udp-fanout", fields["SYSLOG_IDENTIFIER"]);
        Assert.False(fields.ContainsKey("{ORIGINALFORMAT}"));
    }

    [Fact]
    public void Log_ErrorWithNewlines_UsesTheLengthPrefixedForm()
    {
        using var provider = new JournalLoggerProvider(new JournalSocket(_path));

        provider.CreateLogger("x").LogError("line one\nline two");

        var fields = ReceiveRecord();
        Assert.Equal("3", fields["PRIORITY"]);
        Assert.Equal("line one\nline two", fields["MESSAGE"]);
    }

    [Theory]
    [InlineData("Listener", "LISTENER")]
    [InlineData("queue-id", "QUEUE_ID")]
    [InlineData("_Private", "PRIVATE")]
    public void FieldName_MakesJournaldFieldNames(string name, string expected) =>
        Assert.Equal(expected, JournalRecord.FieldName(name));

    /// <summary>Parses a datagram of journald's native protocol, both field forms.</summary>
    private Dictionary<string, string> ReceiveRecord()
    {
        _journal.ReceiveTimeout = 2000;
        var buffer = new byte[65536];
        var length = _journal.Receive(buffer);
        var fields = new Dictionary<string, string>();
        var i = 0;
        while (i < length)
        {
            var end = Array.IndexOf(buffer, (byte)'\n', i, length - i);
            var line = Encoding.UTF8.GetString(buffer, i, end - i);
            if (line.Contains('='))
            {
                fields[line[..line.IndexOf('=')]] = line[(line.IndexOf('=') + 1)..];
                i = end + 1;
            }
            else
            {
                var size = (int)BitConverter.ToUInt64(buffer, end + 1);
                fields[line] = Encoding.UTF8.GetString(buffer, end + 9, size);
                i = end + 9 + size + 1;
            }
        }
        return fields;
    }
}
