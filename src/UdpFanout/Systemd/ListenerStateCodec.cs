using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using UdpFanout.Balancing;

namespace UdpFanout.Systemd;

/// <summary>
/// The bytes of the state blob kept in systemd's store: a header line with a format version and the SHA-256 of the
/// JSON that follows. The blob is rewritten in place while the service runs, so a crash in the middle of a write can
/// leave a mix of two versions: the hash tells that apart from a whole one, and anything that is not whole and of
/// this version is refused with the reason, never thrown at the caller.
/// </summary>
internal static class ListenerStateCodec
{
    private const string Magic = "udp-fanout-state";
    private const int Version = 1;

    public static byte[] Encode(IEnumerable<ListenerState> listeners)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartArray();
            foreach (var listener in listeners)
            {
                writer.WriteStartObject();
                writer.WriteString("listener", listener.Listener);
                writer.WriteString("discovery", listener.Discovery);
                WriteDownstreams(writer, "down", listener.Down);
                WriteDownstreams(writer, "discovered", listener.Discovered);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        var body = json.ToArray();
        return [.. Encoding.ASCII.GetBytes($"{Magic} {Version} {Convert.ToHexStringLower(SHA256.HashData(body))}\n"), .. body];
    }

    /// <summary>The listeners' states, or null and <paramref name="error"/> saying why the blob cannot be used.</summary>
    public static IReadOnlyList<ListenerState>? Decode(ReadOnlySpan<byte> blob, out string error)
    {
        var newline = blob.IndexOf((byte)'\n');
        var header = Encoding.ASCII.GetString(newline < 0 ? blob[..Math.Min(blob.Length, 100)] : blob[..newline]).Split(' ');
        if (newline < 0 || header.Length != 3 || header[0] != Magic)
        {
            error = "not a state blob of udp-fanout";
            return null;
        }
        if (header[1] != Version.ToString())
        {
            error = $"format version {header[1]}, this version reads {Version}";
            return null;
        }
        var body = blob[(newline + 1)..];
        if (!string.Equals(header[2], Convert.ToHexStringLower(SHA256.HashData(body)), StringComparison.Ordinal))
        {
            error = "its checksum does not match (written in part when the process died?)";
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            var listeners = document.RootElement.EnumerateArray().Select(l => new ListenerState(
                l.GetProperty("listener").GetString() ?? throw new FormatException("a listener without a name"),
                l.GetProperty("discovery").GetString(),
                ReadDownstreams(l.GetProperty("down")),
                ReadDownstreams(l.GetProperty("discovered")))).ToArray();
            error = "";
            return listeners;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            error = $"its content is not what this version wrote: {e.Message}";
            return null;
        }
    }

    private static void WriteDownstreams(Utf8JsonWriter writer, string name, IEnumerable<Downstream> downstreams)
    {
        writer.WriteStartArray(name);
        foreach (var downstream in downstreams)
        {
            writer.WriteStartObject();
            writer.WriteString("name", downstream.Name);
            writer.WriteString("address", downstream.Endpoint.ToString());
            writer.WriteNumber("weight", downstream.Weight);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }

    private static Downstream[] ReadDownstreams(JsonElement downstreams) =>
        [.. downstreams.EnumerateArray().Select(d => new Downstream(
            d.GetProperty("name").GetString() ?? throw new FormatException("a downstream without a name"),
            IPEndPoint.Parse(d.GetProperty("address").GetString() ?? throw new FormatException("a downstream without an address")))
        {
            Weight = Weight(d.GetProperty("weight").GetInt32()),
        })];

    private static int Weight(int weight) =>
        weight is >= 0 and <= 100 ? weight : throw new FormatException($"weight {weight} is out of range (0..100)");
}
