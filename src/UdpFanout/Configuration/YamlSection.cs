using System.Globalization;
using System.Net;
using UdpFanout.Model;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Configuration;

/// <summary>
/// Reads the fields of one YAML mapping with their positions. Every key a parser asks for is remembered, so
/// <see cref="ReportUnknownKeys"/> can name the keys nobody asked for (with a suggestion when one is close).
/// </summary>
internal sealed class YamlSection(YamlMappingNode node, string path, ConfigErrors errors)
{
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public YamlMappingNode Node { get; } = node;

    public string Path { get; } = path;

    public ConfigErrors Errors { get; } = errors;

    public string PathOf(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    /// <summary>The value node of <paramref name="key"/>, or null when absent (an error too when required).</summary>
    public YamlNode? Get(string key, bool required = false)
    {
        _known.Add(key);
        if (Node.Children.TryGetValue(new YamlScalarNode(key), out var value) && !IsNull(value))
        {
            return value;
        }
        if (required)
        {
            Errors.Add(Node, PathOf(key), "required field is missing");
        }
        return null;
    }

    public string? String(string key, bool required = false) =>
        Get(key, required) is { } node ? Scalar(node, PathOf(key), "a string") : null;

    public int? Int(string key, int min, int max, bool required = false)
    {
        if (Get(key, required) is not { } node || Scalar(node, PathOf(key), "a number") is not { } text)
        {
            return null;
        }
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Errors.Add(node, PathOf(key), $"'{text}' is not a whole number");
            return null;
        }
        if (value < min || value > max)
        {
            Errors.Add(node, PathOf(key), $"{value} is out of range ({min}..{max})");
            return null;
        }
        return (int)value;
    }

    /// <summary>A duration written in seconds, fractions allowed ("0.5").</summary>
    public TimeSpan? Seconds(string key, double min, double max)
    {
        if (Get(key) is not { } node || Scalar(node, PathOf(key), "a number of seconds") is not { } text)
        {
            return null;
        }
        // Digits and a point only: double.TryParse also takes "NaN", "Infinity" and "-Infinity" whatever the styles,
        // and NaN passes every range check.
        if (text.Any(c => !char.IsAsciiDigit(c) && c != '.') || !double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            Errors.Add(node, PathOf(key), $"'{text}' is not a number of seconds");
            return null;
        }
        if (value < min || value > max)
        {
            Errors.Add(node, PathOf(key), $"{text} is out of range ({min}..{max} seconds)");
            return null;
        }
        return TimeSpan.FromSeconds(value);
    }

    public bool? Bool(string key)
    {
        if (Get(key) is not { } node || Scalar(node, PathOf(key), "true or false") is not { } text)
        {
            return null;
        }
        if (bool.TryParse(text, out var value))
        {
            return value;
        }
        Errors.Add(node, PathOf(key), $"'{text}' is not true or false");
        return null;
    }

    public T? Enum<T>(string key, bool required = false) where T : struct, System.Enum
    {
        if (Get(key, required) is not { } node || Scalar(node, PathOf(key), "a string") is not { } text)
        {
            return null;
        }
        if (YamlNames.TryParse<T>(text, out var value))
        {
            return value;
        }
        Errors.Add(node, PathOf(key), $"unknown value '{text}' (expected {YamlNames.AllNames<T>()})");
        return null;
    }

    /// <summary>An "address:port" of either family (<see cref="EndpointSyntax"/>) with a port from 1 to 65535.</summary>
    public IPEndPoint? Endpoint(string key, bool required = false)
    {
        if (Get(key, required) is not { } node || Scalar(node, PathOf(key), "an \"address:port\" string") is not { } text)
        {
            return null;
        }
        if (EndpointSyntax.Refusal(text, out var endpoint) is { } refusal)
        {
            Errors.Add(node, PathOf(key), refusal);
        }
        return endpoint;
    }

    public YamlSection? Section(string key, bool required = false)
    {
        if (Get(key, required) is not { } node)
        {
            return null;
        }
        if (node is YamlMappingNode mapping)
        {
            return new YamlSection(mapping, PathOf(key), Errors);
        }
        Errors.Add(node, PathOf(key), "expected a mapping of key: value pairs");
        return null;
    }

    /// <summary>The items of a list; null when absent or not a list (then reported).</summary>
    public YamlSequenceNode? List(string key, bool required = false)
    {
        if (Get(key, required) is not { } node)
        {
            return null;
        }
        if (node is YamlSequenceNode sequence)
        {
            return sequence;
        }
        Errors.Add(node, PathOf(key), "expected a list");
        return null;
    }

    /// <summary>Each item of a list of mappings, as a section with a path like <c>listeners[2]</c>.</summary>
    public IEnumerable<YamlSection> Sections(string key, bool required = false)
    {
        if (List(key, required) is not { } sequence)
        {
            yield break;
        }
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var itemPath = $"{PathOf(key)}[{i}]";
            if (sequence.Children[i] is YamlMappingNode mapping)
            {
                yield return new YamlSection(mapping, itemPath, Errors);
            }
            else
            {
                Errors.Add(sequence.Children[i], itemPath, "expected a mapping of key: value pairs");
            }
        }
    }

    public void ReportUnknownKeys()
    {
        foreach (var key in Node.Children.Keys)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            if (!_known.Contains(name))
            {
                var suggestion = _known.MinBy(k => EditDistance(k, name));
                var hint = suggestion is not null && EditDistance(suggestion, name) <= 2 ? $"; did you mean '{suggestion}'?" : $" (known keys: {string.Join(", ", _known.Order())})";
                Errors.Add(key, PathOf(name), $"unknown key '{name}'{hint}");
            }
        }
    }

    private string? Scalar(YamlNode node, string path, string expected)
    {
        if (node is YamlScalarNode scalar)
        {
            return scalar.Value ?? "";
        }
        Errors.Add(node, path, $"expected {expected}, found a {(node is YamlSequenceNode ? "list" : "mapping")}");
        return null;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: null or "" or "~" or "null" };

    private static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
