using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace UdpFanout.Metrics;

/// <summary>
/// Writes Prometheus text exposition (format 0.0.4) line by line into a stream, formatting each sample in a scratch
/// buffer that is kept for the next scrape: a sample costs no allocation, however many series a scrape has.
/// Labels are escaped as the format says (backslash, double quote, line feed); values are written as prometheus-net
/// writes them, so a series reads the same whichever of the two exported it.
/// </summary>
internal sealed class ExpositionWriter
{
    // An integral value below this is written as an integer, from it on in exponent form, as prometheus-net does.
    private const double LargestInteger = 1e17;
    private static readonly SearchValues<char> Escaped = SearchValues.Create("\\\"\n");

    private byte[] _line = new byte[1024];
    private int _length;
    private Stream _destination = Stream.Null;

    /// <summary>Starts writing into <paramref name="destination"/>.</summary>
    public void Begin(Stream destination) => _destination = destination;

    /// <summary>The <c># HELP</c> and <c># TYPE</c> lines of a family.</summary>
    public void Family(string name, string help, string type)
    {
        Append("# HELP "u8);
        Append(name);
        Append((byte)' ');
        Append(help);
        Append("\n# TYPE "u8);
        Append(name);
        Append((byte)' ');
        Append(type);
        EndLine();
    }

    /// <summary>Starts a sample: its name and the opening brace of its labels.</summary>
    public ExpositionWriter Sample(string name)
    {
        Append(name);
        Append((byte)'{');
        return this;
    }

    /// <summary>One label; the first of a sample has <paramref name="first"/> set.</summary>
    public ExpositionWriter Label(string name, string value, bool first = false)
    {
        if (!first)
        {
            Append((byte)',');
        }
        Append(name);
        Append("=\""u8);
        AppendEscaped(value);
        Append((byte)'"');
        return this;
    }

    /// <summary>A label whose value is an endpoint, written as <see cref="IPEndPoint.ToString"/> does, without a string.</summary>
    public ExpositionWriter Label(string name, IPEndPoint endpoint)
    {
        Append((byte)',');
        Append(name);
        Append("=\""u8);
        var v6 = endpoint.AddressFamily == AddressFamily.InterNetworkV6;
        if (v6)
        {
            Append((byte)'[');
        }
        int written;
        while (!endpoint.Address.TryFormat(Room(), out written))
        {
            Grow();
        }
        _length += written;
        if (v6)
        {
            Append((byte)']');
        }
        Append((byte)':');
        AppendInteger(endpoint.Port);
        Append((byte)'"');
        return this;
    }

    /// <summary>Closes the labels, writes the value and ends the line.</summary>
    public void Value(long value)
    {
        Append("} "u8);
        var asDouble = (double)value;
        if (Math.Abs(asDouble) < LargestInteger)
        {
            AppendInteger((long)asDouble);
        }
        else
        {
            // prometheus-net keeps its values as doubles; beyond 1e17 it writes them as "1.2e+17".
            Append(asDouble.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal));
        }
        EndLine();
    }

    private void EndLine()
    {
        Append((byte)'\n');
        _destination.Write(_line, 0, _length);
        _length = 0;
    }

    private void AppendInteger(long value)
    {
        int written;
        while (!Utf8Formatter.TryFormat(value, Room(), out written))
        {
            Grow();
        }
        _length += written;
    }

    private void AppendEscaped(string value)
    {
        if (!value.AsSpan().ContainsAny(Escaped))
        {
            Append(value);
            return;
        }
        foreach (var rune in value.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '\\':
                    Append("\\\\"u8);
                    break;
                case '"':
                    Append("\\\""u8);
                    break;
                case '\n':
                    Append("\\n"u8);
                    break;
                default:
                    int written;
                    while (!rune.TryEncodeToUtf8(Room(), out written))
                    {
                        Grow();
                    }
                    _length += written;
                    break;
            }
        }
    }

    private void Append(string text)
    {
        int written;
        while (!Encoding.UTF8.TryGetBytes(text, Room(), out written))
        {
            Grow();
        }
        _length += written;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > _line.Length - _length)
        {
            Grow();
        }
        bytes.CopyTo(_line.AsSpan(_length));
        _length += bytes.Length;
    }

    private void Append(byte b)
    {
        if (_length == _line.Length)
        {
            Grow();
        }
        _line[_length++] = b;
    }

    private Span<byte> Room() => _line.AsSpan(_length);

    /// <summary>A line longer than any before it (a very long name): the scratch buffer doubles and stays.</summary>
    private void Grow() => Array.Resize(ref _line, _line.Length * 2);
}
