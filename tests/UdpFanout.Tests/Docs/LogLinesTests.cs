using System.Text.RegularExpressions;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// The journal lines the docs quote (```journal blocks) are lines the daemon can write, and the journal fields
/// their journalctl commands filter on are fields it sets: a LoggerMessage placeholder, upper-cased.
/// </summary>
public sealed partial class LogLinesTests
{
    /// <summary>Share of a quoted line that must come from the source; the rest are values.</summary>
    private const double MinimumCoverage = 0.5;

    /// <summary>The fixed text of at least one message in the line: a sentence of the code, not only a prefix.</summary>
    private const int MinimumSentence = 20;

    /// <summary>What the command line puts before an error it reports (CommandLine.Report).</summary>
    private const string CommandLinePrefix = "udp-fanout: ";

    private static readonly Lazy<SourceMessages> Messages = new(() => SourceMessages.Read(Path.Combine(OperatorDocs.Root, "src")));

    public static TheoryData<string, string> QuotedLines()
    {
        var data = new TheoryData<string, string>();
        foreach (var block in OperatorDocs.Blocks().Where(b => b.Language == "journal"))
        {
            var lines = block.Text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length > 0)
                {
                    data.Add($"{block.File}:{block.Line + i}", lines[i]);
                }
            }
        }
        return data;
    }

    [Fact]
    public void Troubleshooting_QuotesJournalLines()
    {
        Assert.True(QuotedLines().Count(row => ((string)row[0]).StartsWith("docs/troubleshooting.md", StringComparison.Ordinal)) >= 10);
    }

    [Theory]
    [MemberData(nameof(QuotedLines))]
    public void QuotedLine_IsOneTheCodeCanEmit(string where, string line)
    {
        var message = line.StartsWith(CommandLinePrefix, StringComparison.Ordinal) ? line[CommandLinePrefix.Length..] : line;

        var (covered, sentence) = Messages.Value.Match(message);

        Assert.True(covered >= MinimumCoverage * message.Length && sentence >= MinimumSentence,
            $"{where}: {covered} of {message.Length} characters come from messages in src/, the longest fixed text of one is {sentence}: {line}");
    }

    [Theory]
    [InlineData("listener syslog: downstream collector-b (10.20.0.12:514) keeps flapping; check its probes")]
    [InlineData("listener netflow: XDP fell back to generic mode on eth0")]
    [InlineData("udp-fanout: listener 'syslog': port 514 is busy")]
    public void Match_LineTheCodeCannotEmit_IsRefused(string line)
    {
        var message = line.StartsWith(CommandLinePrefix, StringComparison.Ordinal) ? line[CommandLinePrefix.Length..] : line;

        var (covered, sentence) = Messages.Value.Match(message);

        Assert.False(covered >= MinimumCoverage * message.Length && sentence >= MinimumSentence, $"{covered} of {message.Length}, sentence {sentence}");
    }

    [Fact]
    public void Match_ErrorWithItsHintInside_CountsBoth()
    {
        const string line = "cannot register UMEM: No buffer space available (UMEM is locked memory: raise RLIMIT_MEMLOCK (LimitMEMLOCK=infinity, or memlock: unlimited in the config) or grant CAP_IPC_LOCK)";

        Assert.Equal((line.Length - "No buffer space available".Length, 126), Messages.Value.Match(line));
    }

    [Fact]
    public void JournalctlFilters_UseFieldsTheDaemonSets()
    {
        var fields = Directory.GetFiles(Path.Combine(OperatorDocs.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .SelectMany(f => LoggerMessageTemplate().Matches(File.ReadAllText(f)))
            .SelectMany(m => Placeholder().Matches(m.Groups[1].Value))
            .Select(p => p.Groups[1].Value.ToUpperInvariant())
            .ToHashSet();
        var filtered = OperatorDocs.Files
            .SelectMany(f => OperatorDocs.Read(f).Split('\n'))
            .Where(line => line.Contains("journalctl ", StringComparison.Ordinal))
            .SelectMany(line => JournalMatch().Matches(line).Select(m => m.Groups[1].Value))
            .ToHashSet();

        Assert.Contains("XDPMODE", filtered);
        Assert.Empty(filtered.Where(f => !fields.Contains(f)).Order());
    }

    [GeneratedRegex(@"\[LoggerMessage\([^\]]*Message = ""([^""]*)""")]
    private static partial Regex LoggerMessageTemplate();

    [GeneratedRegex(@"\{([A-Za-z][A-Za-z0-9]*)\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"(?<![\w-])([A-Z][A-Z0-9_]*)=")]
    private static partial Regex JournalMatch();
}
