using System.Buffers.Binary;
using System.Text;

namespace UdpFanout.Logging;

/// <summary>
/// Builds one datagram of journald's native protocol: <c>KEY=value\n</c> per field, or for values with a newline
/// <c>KEY\n</c>, the value's length as 64-bit little endian, the value and <c>\n</c>.
/// </summary>
internal sealed class JournalRecord
{
    private readonly MemoryStream _buffer = new();

    public JournalRecord Add(string key, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        _buffer.Write(Encoding.ASCII.GetBytes(key));
        if (Array.IndexOf(bytes, (byte)'\n') < 0)
        {
            _buffer.WriteByte((byte)'=');
            _buffer.Write(bytes);
        }
        else
        {
            _buffer.WriteByte((byte)'\n');
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)bytes.Length);
            _buffer.Write(length);
            _buffer.Write(bytes);
        }
        _buffer.WriteByte((byte)'\n');
        return this;
    }

    public ReadOnlySpan<byte> Bytes => _buffer.GetBuffer().AsSpan(0, (int)_buffer.Length);

    /// <summary>
    /// journald field names: upper-case ASCII letters, digits and underscores, not starting with an underscore
    /// (those are trusted fields journald sets itself). <c>Listener</c> becomes <c>LISTENER</c>.
    /// </summary>
    public static string FieldName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToUpperInvariant(c) : '_').ToArray();
        return new string(chars).TrimStart('_') is { Length: > 0 } field && !char.IsAsciiDigit(field[0]) ? field : "FIELD_" + new string(chars);
    }
}
