using System.Text.RegularExpressions;
using UdpFanout.Hosting;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// Every `udp-fanout` command line the README and docs/ show, in shell blocks and in inline code, is one the
/// program's own parser accepts: no option that does not exist, none without its value.
/// </summary>
public sealed partial class CommandLinesTests
{
    private static readonly string[] ShellLanguages = ["sh", "bash", "shell"];

    public static TheoryData<string, string> CommandLines()
    {
        var data = new TheoryData<string, string>();
        foreach (var block in OperatorDocs.Blocks().Where(b => ShellLanguages.Contains(b.Language)))
        {
            var lines = block.Text.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                foreach (var command in Commands(lines[i]))
                {
                    data.Add($"{block.File}:{block.Line + i}", command);
                }
            }
        }
        foreach (var (file, line, code) in OperatorDocs.InlineCode())
        {
            foreach (var command in Commands(code))
            {
                data.Add($"{file}:{line}", command);
            }
        }
        return data;
    }

    [Fact]
    public void Docs_ShowEverySubcommand()
    {
        var shown = CommandLines().Select(row => CommandOptions.Parse(Arguments((string)row[1])).Command).ToHashSet();

        Assert.Superset(new HashSet<string> { "run", "check", "tune", "release", "demo" }, shown);
    }

    [Theory]
    [MemberData(nameof(CommandLines))]
    public void Parse_DocumentedCommandLine_IsAccepted(string where, string command)
    {
        var options = CommandOptions.Parse(Arguments(command));

        Assert.True(options.Error is null, $"{where}: `{command}`: {options.Error}");
        if (options.Command == "tune" && Arguments(command).Count > 1)
        {
            Assert.True(options.Interface is not null, $"{where}: `{command}`: tune needs --interface");
        }
    }

    /// <summary>The invocations of the program in one line of shell: after `sudo`, a path, or at the start.</summary>
    private static IEnumerable<string> Commands(string line) =>
        Invocation().Matches(line.Split(" #")[0]).Select(m => ("udp-fanout" + m.Groups[1].Value).Trim());

    private static List<string> Arguments(string command) => [.. command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)];

    [GeneratedRegex(@"(?:^|sudo |/usr/bin/)udp-fanout(?![-@.\w])((?: +[^ |;&)`#][^ |;&)`]*)+)")]
    private static partial Regex Invocation();
}
