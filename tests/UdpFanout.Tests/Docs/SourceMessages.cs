using System.Text;
using System.Text.RegularExpressions;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// The messages the daemon can write, read from its source: every string literal of src/ (LoggerMessage templates,
/// exception messages, hints), with interpolation holes and <c>{Name}</c> placeholders as wildcards and adjacent
/// literals joined with <c>+</c> taken as one. A line of text is one the code can emit when templates that match it
/// (and, inside their wildcards, further templates: a hint inside an error inside a log line) account for most of
/// its characters; what is left are the values (names, addresses, numbers, the kernel's strerror).
/// </summary>
internal sealed partial class SourceMessages
{
    private const int MaxNesting = 3;
    private readonly List<Template> _templates;

    private SourceMessages(List<Template> templates) => _templates = templates;

    public int Count => _templates.Count;

    public static SourceMessages Read(string sourceDirectory) =>
        new([.. Directory.GetFiles(sourceDirectory, "*.cs", SearchOption.AllDirectories)
            .SelectMany(f => Literals(File.ReadAllText(f)))
            .Select(parts => new Template(parts))
            .Where(t => t.LiteralLength >= 3)]);

    /// <summary>
    /// How many characters of <paramref name="line"/> the source's templates account for, and the longest fixed
    /// text among them: a short generic template ("listener '{name}': {error}") matches nearly anything, so a line
    /// the code emits also has a sentence of its own.
    /// </summary>
    public (int Covered, int LongestTemplate) Match(string line) => Match(line, 0);

    private (int Covered, int LongestTemplate) Match(string text, int depth)
    {
        (int Covered, int LongestTemplate) best = (0, 0);
        foreach (var template in _templates)
        {
            if (template.LiteralLength > text.Length || !template.MayMatch(text) || template.Pattern.Match(text) is not { Success: true } match)
            {
                continue;
            }
            var covered = template.LiteralLength;
            var longest = template.LiteralLength;
            if (depth < MaxNesting)
            {
                foreach (var group in match.Groups.Cast<Group>().Skip(1).Where(g => g.Length < text.Length))
                {
                    var inner = Match(group.Value, depth + 1);
                    covered += inner.Covered;
                    longest = Math.Max(longest, inner.LongestTemplate);
                }
            }
            if (covered > best.Covered)
            {
                best = (covered, longest);
            }
        }
        return (Math.Min(best.Covered, text.Length), best.LongestTemplate);
    }

    /// <summary>A literal: text parts, and null for each hole or placeholder.</summary>
    private sealed class Template
    {
        private readonly string[] _fixedParts;

        public Template(List<string?> parts)
        {
            var joined = new List<string?>();
            foreach (var part in parts)
            {
                // Adjacent holes ("{a}{b}") are one wildcard: two lazy groups side by side could split a value anywhere.
                if (part is not null || joined.Count == 0 || joined[^1] is not null)
                {
                    joined.Add(part);
                }
            }
            LiteralLength = joined.Sum(p => p?.Length ?? 0);
            _fixedParts = [.. joined.OfType<string>().Where(p => p.Length >= 3)];
            Pattern = new Regex("^" + string.Concat(joined.Select(p => p is null ? "(.+?)" : Regex.Escape(p))) + "$", RegexOptions.Singleline);
        }

        public int LiteralLength { get; }

        public Regex Pattern { get; }

        public bool MayMatch(string text) => _fixedParts.All(p => text.Contains(p, StringComparison.Ordinal));
    }

    /// <summary>The string literals of a C# file, comments and character literals skipped, raw strings left out.</summary>
    private static IEnumerable<List<string?>> Literals(string source)
    {
        var i = 0;
        while (i < source.Length)
        {
            if (At(source, i, "//"))
            {
                i = source.IndexOf('\n', i) is var end and >= 0 ? end : source.Length;
            }
            else if (At(source, i, "/*"))
            {
                i = source.IndexOf("*/", i + 2, StringComparison.Ordinal) + 2;
            }
            else if (source[i] == '\'')
            {
                i = SkipCharLiteral(source, i);
            }
            else if (StringStart(source, i) is { } start)
            {
                var parts = new List<string?>();
                i = ParseString(source, i, start, parts);
                // "a" + "b" + $"c{d}" is one message.
                while (NextConcatenatedString(source, i) is var (next, nextStart) && nextStart is not null)
                {
                    i = ParseString(source, next, nextStart, parts);
                }
                if (parts.Count > 0)
                {
                    yield return parts;
                }
            }
            else
            {
                i++;
            }
        }
    }

    private static (int Index, string? Start) NextConcatenatedString(string source, int i)
    {
        var j = SkipSpace(source, i);
        if (j >= source.Length || source[j] != '+')
        {
            return (i, null);
        }
        j = SkipSpace(source, j + 1);
        return (j, StringStart(source, j));
    }

    private static int SkipSpace(string source, int i)
    {
        while (i < source.Length && char.IsWhiteSpace(source[i]))
        {
            i++;
        }
        return i;
    }

    /// <summary>The opening of a string literal at <paramref name="i"/>: "\"", "$\"", "@\"", "$@\"", "@$\"", or a raw string's quotes.</summary>
    private static string? StringStart(string source, int i)
    {
        foreach (var start in new[] { "$\"\"\"", "\"\"\"", "$@\"", "@$\"", "$\"", "@\"", "\"" })
        {
            if (At(source, i, start) && (i == 0 || !char.IsLetterOrDigit(source[i - 1]) || start[0] == '"'))
            {
                return start;
            }
        }
        return null;
    }

    /// <summary>Parses one literal starting at <paramref name="i"/>, appends its parts, returns the index after it.</summary>
    private static int ParseString(string source, int i, string start, List<string?> parts)
    {
        if (start.EndsWith("\"\"\"", StringComparison.Ordinal))
        {
            // Raw strings (usage texts, C programs of the layout tests) are not messages.
            return source.IndexOf("\"\"\"", i + start.Length, StringComparison.Ordinal) + 3;
        }
        var interpolated = start.Contains('$');
        var verbatim = start.Contains('@');
        var text = new StringBuilder();
        i += start.Length;
        while (i < source.Length)
        {
            var c = source[i];
            if (c == '"' && verbatim && At(source, i, "\"\""))
            {
                text.Append('"');
                i += 2;
            }
            else if (c == '"')
            {
                i++;
                break;
            }
            else if (c == '\\' && !verbatim)
            {
                text.Append(Unescape(source[i + 1]));
                i += 2;
            }
            else if (interpolated && At(source, i, "{{"))
            {
                text.Append('{');
                i += 2;
            }
            else if (interpolated && At(source, i, "}}"))
            {
                text.Append('}');
                i += 2;
            }
            else if (interpolated && c == '{')
            {
                Flush(text, parts);
                parts.Add(null);
                i = SkipHole(source, i);
            }
            else
            {
                text.Append(c);
                i++;
            }
        }
        Flush(text, parts, placeholders: !interpolated);
        return i;
    }

    /// <summary>Appends the text, with LoggerMessage's <c>{Name}</c> placeholders as holes in plain strings.</summary>
    private static void Flush(StringBuilder text, List<string?> parts, bool placeholders = false)
    {
        if (text.Length == 0)
        {
            return;
        }
        var value = text.ToString();
        text.Clear();
        if (!placeholders)
        {
            parts.Add(value);
            return;
        }
        var last = 0;
        foreach (Match placeholder in Placeholder().Matches(value))
        {
            if (placeholder.Index > last)
            {
                parts.Add(value[last..placeholder.Index]);
            }
            parts.Add(null);
            last = placeholder.Index + placeholder.Length;
        }
        if (last < value.Length)
        {
            parts.Add(value[last..]);
        }
    }

    /// <summary>Skips an interpolation hole, with the strings, characters and braces inside it.</summary>
    private static int SkipHole(string source, int i)
    {
        var depth = 0;
        while (i < source.Length)
        {
            if (source[i] == '\'')
            {
                i = SkipCharLiteral(source, i);
                continue;
            }
            if (StringStart(source, i) is { } start)
            {
                i = ParseString(source, i, start, []);
                continue;
            }
            depth += source[i] switch { '{' => 1, '}' => -1, _ => 0 };
            i++;
            if (depth == 0)
            {
                return i;
            }
        }
        return i;
    }

    private static int SkipCharLiteral(string source, int i)
    {
        i++;
        while (i < source.Length && source[i] != '\'')
        {
            i += source[i] == '\\' ? 2 : 1;
        }
        return i + 1;
    }

    private static char Unescape(char c) => c switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', _ => c };

    private static bool At(string source, int i, string text) => string.CompareOrdinal(source, i, text, 0, text.Length) == 0;

    [GeneratedRegex(@"\{[A-Za-z][A-Za-z0-9]*\}")]
    private static partial Regex Placeholder();
}
