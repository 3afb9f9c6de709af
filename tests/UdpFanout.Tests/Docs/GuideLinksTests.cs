using System.Text.RegularExpressions;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// The operator guides can be found: the README links each, udp-fanout(8) names each, both packages install each
/// beside the README, and every relative link in the README and docs/ leads to a file and heading that exist.
/// </summary>
public sealed partial class GuideLinksTests
{
    public static TheoryData<string> Guides() => [.. OperatorDocs.Guides];

    [Theory]
    [MemberData(nameof(Guides))]
    public void Guide_IsLinkedFromReadmeNamedByManPageAndInstalled(string guide)
    {
        Assert.True(File.Exists(Path.Combine(OperatorDocs.Root, "docs", guide)));
        Assert.Contains($"](docs/{guide})", OperatorDocs.Read("README.md"));
        Assert.Contains($"*{guide}*", OperatorDocs.Read("docs/udp-fanout.8.scd"));
        Assert.Matches($@"- src: docs/{Regex.Escape(guide)}\n    dst: /usr/share/doc/udp-fanout/docs/{Regex.Escape(guide)}\n    type: doc\n", OperatorDocs.Read("nfpm.yaml"));
    }

    [Fact]
    public void RelativeLinks_LeadToFilesAndHeadingsThatExist()
    {
        var links = OperatorDocs.Files
            .SelectMany(file => Link().Matches(OperatorDocs.Read(file)).Select(m => (File: file, Target: m.Groups[1].Value, Anchor: m.Groups[2].Value)))
            .Where(l => !l.Target.Contains("://", StringComparison.Ordinal))
            .ToArray();
        var broken = new List<string>();
        foreach (var (file, target, anchor) in links)
        {
            var path = target.Length == 0 ? file : Path.GetRelativePath(OperatorDocs.Root, Path.GetFullPath(Path.Combine(OperatorDocs.Root, Path.GetDirectoryName(file)!, target)));
            var full = Path.Combine(OperatorDocs.Root, path);
            if (!File.Exists(full) && !Directory.Exists(full))
            {
                broken.Add($"{file}: {target} does not exist");
            }
            else if (anchor.Length > 0 && !Heading().Matches(File.ReadAllText(full)).Any(h => Slug(h.Groups[1].Value) == anchor))
            {
                broken.Add($"{file}: {path} has no heading #{anchor}");
            }
        }

        Assert.True(links.Count(l => l.Anchor.Length > 0) >= 10);
        Assert.Empty(broken);
    }

    /// <summary>The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static string Slug(string heading) =>
        SlugDropped().Replace(heading.Trim().ToLowerInvariant().Replace("`", ""), "").Replace(' ', '-');

    [GeneratedRegex(@"\]\(([^)#\s]*)(?:#([^)\s]+))?\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"(?m)^#{1,6} (.+)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^a-z0-9 _-]")]
    private static partial Regex SlugDropped();
}
