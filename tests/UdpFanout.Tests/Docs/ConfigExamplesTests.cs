using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Docs;

/// <summary>
/// Every YAML block of the README and docs/ is a config an operator may copy: `udp-fanout check` must accept it on
/// this host, or, for a block marked <c>&lt;!-- check fails: TEXT --&gt;</c>, refuse it with an error containing TEXT.
/// check compares downstreams with this host's addresses, so the examples use addresses no test host has.
/// </summary>
public sealed class ConfigExamplesTests
{
    private const string FailsMarker = "check fails: ";

    public static TheoryData<string> YamlBlocks() => [.. OperatorDocs.Blocks().Where(b => b.Language == "yaml").Select(b => b.ToString())];

    [Fact]
    public void Docs_HaveConfigExamples_InEveryGuideThatConfigures()
    {
        var files = OperatorDocs.Blocks().Where(b => b.Language == "yaml").Select(b => b.File).ToHashSet();

        Assert.Superset(new HashSet<string> { "README.md", "docs/deployment.md", "docs/kubernetes.md", "docs/nic-tuning.md", "docs/troubleshooting.md" }, files);
        Assert.Contains(OperatorDocs.Blocks(), b => b.Marker?.StartsWith(FailsMarker, StringComparison.Ordinal) == true);
    }

    [Theory]
    [MemberData(nameof(YamlBlocks))]
    public void Check_YamlBlock_AcceptsOrRefusesAsTheTextSays(string where)
    {
        var block = OperatorDocs.Blocks().Single(b => b.ToString() == where);
        using var config = new TempConfig(block.Text);

        var (code, output) = Shell.TryRun($"{Path.Combine(AppContext.BaseDirectory, "udp-fanout")} check --config {config.Path}");

        if (block.Marker is { } marker && marker.StartsWith(FailsMarker, StringComparison.Ordinal))
        {
            Assert.True(code == 1, $"{where} is marked to fail check, but check exited {code}: {output}");
            Assert.Contains(marker[FailsMarker.Length..], output);
        }
        else
        {
            Assert.True(code == 0, $"{where} fails udp-fanout check:\n{output}");
            Assert.StartsWith("listener ", output);
        }
    }
}
