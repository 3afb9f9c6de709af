using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Packaging;

/// <summary>
/// The distributions' own linters pass on the built packages: no error and no warning. What they get wrong for
/// this package is overridden in the repository with the reason (packaging/lintian-overrides,
/// packaging/udp-fanout.rpmlintrc), and an override that no longer matches anything fails too.
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed class LinterTests(PackagesFixture packages)
{
    [Fact]
    public void Deb_LintianReportsNoErrorOrWarning()
    {
        // -I also shows the informational tags, where lintian reports overrides that match nothing. The overrides
        // come from the .deb itself (/usr/share/lintian/overrides/udp-fanout), as they do for every user who runs it.
        var (code, output) = Shell.TryRun($"lintian --fail-on error,warning -I --tag-display-limit 0 {packages.Deb}");

        Assert.True(code == 0, $"lintian exited {code}:\n{output}");
        Assert.DoesNotMatch(@"(?m)^[EW]: ", output);
        Assert.DoesNotContain("unused-override", output);
        Assert.DoesNotContain("mismatched-override", output);
    }

    [Fact]
    public void Rpm_RpmlintReportsNoErrorOrWarning()
    {
        var (code, output) = Shell.TryRun(
            $"rpmlint -c {packages.Root}/packaging/rpmlint.toml -r {packages.Root}/packaging/udp-fanout.rpmlintrc {packages.Rpm}");

        Assert.True(code == 0, $"rpmlint exited {code}:\n{output}");
        // rpmlint counts filtered findings as neither; an unused filter is itself an error (unused-rpmlintrc-filter).
        Assert.Contains(" 0 errors, 0 warnings", output);
    }
}
