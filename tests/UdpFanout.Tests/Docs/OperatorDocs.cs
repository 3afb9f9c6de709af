using System.Text.RegularExpressions;
using UdpFanout.Tests.Configuration;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// The documentation an operator reads: README.md and every docs/*.md, cut into the pieces the docs tests check
/// (fenced blocks with their language and the marker comment above them, inline code spans).
/// </summary>
internal static partial class OperatorDocs
{
    /// <summary>The guides that README.md, udp-fanout(8) and the packages must all carry.</summary>
    public static readonly string[] Guides = ["deployment.md", "kubernetes.md", "nic-tuning.md", "troubleshooting.md"];

    public static string Root { get; } = ConfigLoaderTests.RepositoryRoot();

    /// <summary>Paths relative to the repository root: README.md first, then docs/*.md in name order.</summary>
    public static IReadOnlyList<string> Files { get; } =
        ["README.md", .. Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Select(f => "docs/" + Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    public static string Read(string file) => File.ReadAllText(Path.Combine(Root, file));

    /// <summary>Every fenced block of every file.</summary>
    public static IEnumerable<Block> Blocks() => Files.SelectMany(BlocksOf);

    /// <summary>
    /// The fenced blocks of one file. A block may be indented (inside a list item); its lines lose that indent.
    /// <see cref="Block.Marker"/> is the text of an HTML comment on the line right above the fence, if any.
    /// </summary>
    public static IEnumerable<Block> BlocksOf(string file)
    {
        var lines = Read(file).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success)
            {
                continue;
            }
            var indent = open.Groups[1].Value;
            var body = new List<string>();
            var start = i + 1;
            for (i++; i < lines.Length && lines[i].Trim() != "```"; i++)
            {
                body.Add(lines[i].StartsWith(indent, StringComparison.Ordinal) ? lines[i][indent.Length..] : lines[i]);
            }
            var marker = start >= 2 ? MarkerComment().Match(lines[start - 2]) : Match.Empty;
            yield return new Block(file, start, open.Groups[2].Value, string.Join('\n', body) + "\n", marker.Success ? marker.Groups[1].Value : null);
        }
    }

    /// <summary>The text of every inline code span outside fenced blocks, with the file and line it is on.</summary>
    public static IEnumerable<(string File, int Line, string Code)> InlineCode()
    {
        foreach (var file in Files)
        {
            var inFence = false;
            var lines = Read(file).Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
                {
                    inFence = !inFence;
                    continue;
                }
                if (!inFence)
                {
                    foreach (Match span in InlineSpan().Matches(lines[i]))
                    {
                        yield return (file, i + 1, span.Groups[1].Value);
                    }
                }
            }
        }
    }

    /// <summary>A fenced block: where it starts (the first line after the fence, 1-based), its language and text.</summary>
    public sealed record Block(string File, int Line, string Language, string Text, string? Marker)
    {
        public override string ToString() => $"{File}:{Line}";
    }

    [GeneratedRegex(@"^(\s*)```([a-z]*)\s*$")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^\s*<!--\s*(.*?)\s*-->\s*$")]
    private static partial Regex MarkerComment();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex InlineSpan();
}
