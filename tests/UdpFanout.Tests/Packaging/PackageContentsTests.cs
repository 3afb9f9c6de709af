using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Packaging;

/// <summary>
/// Each built package holds exactly what nfpm.yaml lists (paths, modes, conffile flags, dependencies, scripts),
/// so a release pipeline that runs nfpm on the same file ships the same thing.
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed class PackageContentsTests(PackagesFixture packages)
{
    [Fact]
    public void Deb_HoldsExactlyTheListedFilesWithTheirModes()
    {
        var files = Shell.Run($"dpkg-deb -c {packages.Deb}").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => line[0] == '-')
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => (Path: f[^1].TrimStart('.'), Mode: f[0], Owner: f[1]))
            .OrderBy(f => f.Path)
            .ToArray();

        Assert.Equal(packages.Contents.Select(c => c.Path).Order(), files.Select(f => f.Path));
        foreach (var (path, mode, _) in packages.Contents)
        {
            var file = files.Single(f => f.Path == path);
            Assert.Equal((path, Symbolic(mode), "root/root"), (path, file.Mode, file.Owner));
        }
    }

    [Fact]
    public void Deb_ConffilesDependenciesAndScriptsAreTheListedOnes()
    {
        var control = Directory.CreateTempSubdirectory("deb-control-");
        try
        {
            Shell.Run($"dpkg-deb -e {packages.Deb} {control.FullName}");

            Assert.Equal(packages.Contents.Where(c => c.Type == "config|noreplace").Select(c => c.Path), File.ReadAllLines(Path.Combine(control.FullName, "conffiles")));
            Assert.Equal(string.Join(", ", packages.Depends("deb")), Shell.Run($"dpkg-deb -f {packages.Deb} Depends").Trim());
            Assert.Equal(packages.Script("postinstall"), File.ReadAllText(Path.Combine(control.FullName, "postinst")));
            Assert.Equal(packages.Script("preremove"), File.ReadAllText(Path.Combine(control.FullName, "prerm")));
            Assert.Equal(packages.Script("postremove"), File.ReadAllText(Path.Combine(control.FullName, "postrm")));
        }
        finally
        {
            control.Delete(recursive: true);
        }
    }

    [Fact]
    public void Rpm_HoldsExactlyTheListedFilesModesAndConfigFlags()
    {
        var files = Shell.Run($"rpm -qp --queryformat '[%{{FILENAMES}} %{{FILEMODES:octal}} %{{FILEFLAGS:fflags}}\\n]' {packages.Rpm}")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Where(f => f[1].StartsWith("100", StringComparison.Ordinal))
            .OrderBy(f => f[0])
            .ToArray();

        Assert.Equal(packages.Contents.Select(c => c.Path).Order(), files.Select(f => f[0]));
        foreach (var (path, mode, type) in packages.Contents)
        {
            var file = files.Single(f => f[0] == path);
            var flags = type switch { "config|noreplace" => "cn", "doc" => "d", _ => "" };
            Assert.Equal((path, "100" + Convert.ToString(mode, 8).PadLeft(3, '0'), flags), (path, file[1], file.Length > 2 ? file[2] : ""));
        }
    }

    [Fact]
    public void Rpm_RequiresAndScriptsAreTheListedOnes()
    {
        var requires = Shell.Run($"rpm -qp --requires {packages.Rpm}").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var scripts = Shell.Run($"rpm -qp --scripts {packages.Rpm}");

        Assert.All(packages.Depends("rpm"), d => Assert.Contains(d, requires));
        Assert.Contains(packages.Script("postinstall").Trim(), scripts);
        Assert.Contains(packages.Script("preremove").Trim(), scripts);
        Assert.Contains(packages.Script("postremove").Trim(), scripts);
    }

    private static string Symbolic(int mode) =>
        "-" + string.Concat(Enumerable.Range(0, 9).Select(i => (mode & (1 << (8 - i))) != 0 ? "rwx"[i % 3] : '-'));
}
