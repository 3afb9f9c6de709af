using System.Text.RegularExpressions;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Packaging;

/// <summary>
/// udp-fanout(8), which the unit's Documentation= names: rendered from docs/udp-fanout.8.scd during the package
/// build, shipped gzipped in both packages, and complete against the program itself: every subcommand and option
/// its usage text shows and every top-level key of config.example.yaml.
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed partial class ManPageTests(PackagesFixture packages) : IDisposable
{
    private const string Page = "/usr/share/man/man8/udp-fanout.8.gz";
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("manpage-");

    public void Dispose() => _work.Delete(recursive: true);

    [Fact]
    public void ManPage_IsTheSameGzippedPageInBothPackages()
    {
        var deb = FromDeb();
        var rpm = Path.Combine(_work.FullName, "rpm.8.gz");
        Shell.Run($"rpm2cpio {packages.Rpm} | cpio -i --quiet --to-stdout .{Page} > {rpm}");

        Assert.Equal(File.ReadAllBytes(deb), File.ReadAllBytes(rpm));
        Assert.Equal(new byte[] { 0x1f, 0x8b }, File.ReadAllBytes(deb)[..2]);
    }

    [Fact]
    public void ManPage_RendersAndNamesEverySubcommandAndOption()
    {
        var text = Render();
        var usage = Shell.Run($"{packages.PublishedBinary} --help");
        var subcommands = UsageSubcommand().Matches(usage).Select(m => m.Groups[1].Value).Distinct().ToArray();
        var options = UsageOption().Matches(usage).Select(m => m.Value).Distinct().ToArray();

        Assert.Equal(["check", "demo", "release", "run", "tune"], subcommands.Order());
        Assert.Contains("--version", options);
        Assert.All(subcommands, c => Assert.Matches($@"(?m)^\s+{c}\b", text));
        Assert.All(options, o => Assert.Contains(o, text));
        foreach (var heading in new[] { "SYNOPSIS", "COMMANDS", "OPTIONS", "CONFIGURATION", "SIGNALS", "EXIT STATUS", "METRICS", "FILES" })
        {
            Assert.Matches($"(?m)^{heading}$", text);
        }
        Assert.Contains("SIGHUP", text);
        Assert.Contains("SIGTERM", text);
    }

    [Fact]
    public void ManPage_NamesEveryTopLevelConfigKey()
    {
        var text = Render();
        // Top-level keys start a line of config.example.yaml, the optional ones commented out ("# tuning:").
        var keys = TopLevelKey().Matches(File.ReadAllText(Path.Combine(packages.Root, "config.example.yaml")))
            .Select(m => m.Groups[1].Value).Distinct().ToArray();

        Assert.Equal(["health", "listeners", "memlock", "metrics", "tuning"], keys.Order());
        Assert.All(keys, key => Assert.Matches($@"(?m)^\s+{key}:", text));
    }

    [Fact]
    public void ManPage_GivesTheMetricsDefaultThatConfigExampleGives()
    {
        var example = File.ReadAllText(Path.Combine(packages.Root, "config.example.yaml"));
        var bind = MetricsBind().Match(example);

        Assert.True(bind.Success, "config.example.yaml has a metrics: section with a bind:");
        Assert.Contains($"(default {bind.Groups[1].Value})", Render());
    }

    private string FromDeb()
    {
        var path = Path.Combine(_work.FullName, "deb.8.gz");
        Shell.Run($"dpkg-deb --fsys-tarfile {packages.Deb} | tar -xO .{Page} > {path}");
        return path;
    }

    /// <summary>
    /// man -l as a reader gets it, wide enough that no word is hyphenated across lines, in ASCII; groff's
    /// warnings (a broken macro, a line it cannot fill) go to stderr, which must stay empty.
    /// </summary>
    private string Render()
    {
        var warnings = Path.Combine(_work.FullName, "warnings");
        var text = Shell.Run($"MANWIDTH=1000 LC_ALL=C.UTF-8 man --warnings -E ascii -l {FromDeb()} 2> {warnings}");
        Assert.Equal("", File.ReadAllText(warnings));
        return text;
    }

    [GeneratedRegex(@"udp-fanout \[?([a-z]+)\b")]
    private static partial Regex UsageSubcommand();

    [GeneratedRegex(@"--[a-z]+")]
    private static partial Regex UsageOption();

    [GeneratedRegex(@"(?m)^(?:# )?([a-z_]+):")]
    private static partial Regex TopLevelKey();

    [GeneratedRegex(@"(?m)^metrics:\n(?:  .*\n)*?  bind: ""([^""]+)""")]
    private static partial Regex MetricsBind();
}
