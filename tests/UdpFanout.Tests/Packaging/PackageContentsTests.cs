using UdpFanout.Bpf;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Packaging;

/// <summary>
/// Each built package holds exactly what nfpm.yaml lists (paths, modes, conffile flags, dependencies, scripts),
/// so a release pipeline that runs nfpm on the same file ships the same thing; and what nfpm.yaml cannot vouch
/// for itself (every BPF object the build makes, directory modes and ownership) is checked against the build.
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed class PackageContentsTests(PackagesFixture packages)
{
    [Fact]
    public void Deb_HoldsExactlyTheListedFilesWithTheirModes()
    {
        var files = DebEntries().Where(e => e.Mode[0] == '-').OrderBy(f => f.Path).ToArray();
        var expected = packages.Contents("deb").Concat(packages.GeneratedDebFiles).ToArray();

        Assert.Equal(expected.Select(c => c.Path).Order(), files.Select(f => f.Path));
        foreach (var (path, mode, _) in expected)
        {
            var file = files.Single(f => f.Path == path);
            Assert.Equal((path, Symbolic('-', mode), "root/root"), (path, file.Mode, file.Owner));
        }
    }

    [Fact]
    public void Deb_EveryDirectoryIsRootOwnedAnd0755()
    {
        var directories = DebEntries().Where(e => e.Mode[0] == 'd').ToArray();

        // "/" is the archive's "./": a 0700 there makes dpkg leave the whole file system unreadable to services.
        Assert.Contains(directories, d => d.Path == "/");
        Assert.All(directories, d => Assert.Equal((d.Path, Symbolic('d', Convert.ToInt32("755", 8)), "root/root"), (d.Path, d.Mode, d.Owner)));
    }

    [Fact]
    public void Deb_ConffilesDependenciesAndScriptsAreTheListedOnes()
    {
        var control = Directory.CreateTempSubdirectory("deb-control-");
        try
        {
            Shell.Run($"dpkg-deb -e {packages.Deb} {control.FullName}");

            Assert.Equal(packages.Contents("deb").Where(c => c.Type == "config|noreplace").Select(c => c.Path), File.ReadAllLines(Path.Combine(control.FullName, "conffiles")));
            Assert.Equal(string.Join(", ", packages.Depends("deb")), Shell.Run($"dpkg-deb -f {packages.Deb} Depends").Trim());
            Assert.Equal(packages.Script("deb", "postinstall"), File.ReadAllText(Path.Combine(control.FullName, "postinst")));
            Assert.Equal(packages.Script("deb", "preremove"), File.ReadAllText(Path.Combine(control.FullName, "prerm")));
            Assert.Equal(packages.Script("deb", "postremove"), File.ReadAllText(Path.Combine(control.FullName, "postrm")));
        }
        finally
        {
            control.Delete(recursive: true);
        }
    }

    [Fact]
    public void Rpm_HoldsExactlyTheListedFilesModesAndConfigFlags()
    {
        var files = RpmEntries().Where(f => f.Mode.StartsWith("100", StringComparison.Ordinal)).OrderBy(f => f.Path).ToArray();

        Assert.Equal(packages.Contents("rpm").Select(c => c.Path).Order(), files.Select(f => f.Path));
        foreach (var (path, mode, type) in packages.Contents("rpm"))
        {
            var file = files.Single(f => f.Path == path);
            var flags = type switch { "config|noreplace" => "cn", "doc" => "d", _ => "" };
            Assert.Equal((path, "100" + Convert.ToString(mode, 8).PadLeft(3, '0'), flags), (path, file.Mode, file.Flags));
        }
    }

    [Fact]
    public void Rpm_OwnsEveryDirectoryOfItsOwn()
    {
        var entries = RpmEntries();
        var owned = entries.Where(e => e.Mode.StartsWith("40", StringComparison.Ordinal)).Select(e => e.Path).ToHashSet();
        // A directory named after the package (/etc/udp-fanout, /usr/lib/udp-fanout and what is below it) belongs
        // to no other package: unowned, it would stay behind after removal. /usr/lib/systemd/system and the like
        // belong to the distribution.
        var own = entries.Where(e => e.Mode.StartsWith("100", StringComparison.Ordinal))
            .SelectMany(e => Ancestors(e.Path))
            .Where(dir => dir.Split('/').Contains("udp-fanout"))
            .Distinct()
            .Order()
            .ToArray();

        Assert.NotEmpty(own);
        Assert.All(own, dir => Assert.Contains(dir, owned));
        Assert.All(entries.Where(e => owned.Contains(e.Path)), d => Assert.Equal((d.Path, "40755"), (d.Path, d.Mode)));
    }

    [Fact]
    public void Rpm_RequiresAndScriptsAreTheListedOnes()
    {
        var requires = Shell.Run($"rpm -qp --requires {packages.Rpm}").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var scripts = Shell.Run($"rpm -qp --scripts {packages.Rpm}");

        Assert.All(packages.Depends("rpm"), d => Assert.Contains(d, requires));
        Assert.Contains(packages.Script("rpm", "postinstall").Trim(), scripts);
        Assert.Contains(packages.Script("rpm", "preremove").Trim(), scripts);
        Assert.Contains(packages.Script("rpm", "postremove").Trim(), scripts);
    }

    /// <summary>
    /// The list comes from the sources and the build output, not from nfpm.yaml: a BPF program added to bpf/ but
    /// not to the manifest is a mode that cannot start from the packages ("BPF object ... not found").
    /// </summary>
    [Fact]
    public void BothPackages_ShipEveryBpfObjectTheBuildProduces()
    {
        var sources = Directory.GetFiles(Path.Combine(packages.Root, "bpf"), "*.bpf.c").Select(s => Path.GetFileName(s)[..^2] + ".o").Order().ToArray();
        var built = Directory.GetFiles(Path.Combine(packages.Root, "artifacts/publish/bpf"), "*.o").Select(Path.GetFileName).Order().ToArray();
        var expected = sources.Select(o => $"{BpfObjectLocator.PackagedDirectory}/{o}").ToArray();

        Assert.Contains("xdp_fanout.bpf.o", sources);
        Assert.Equal(sources, built);
        Assert.Equal(expected, DebEntries().Where(e => e.Path.StartsWith(BpfObjectLocator.PackagedDirectory + "/", StringComparison.Ordinal) && e.Mode[0] == '-').Select(e => e.Path).Order());
        Assert.Equal(expected, RpmEntries().Where(e => e.Path.StartsWith(BpfObjectLocator.PackagedDirectory + "/", StringComparison.Ordinal) && e.Mode.StartsWith("100", StringComparison.Ordinal)).Select(e => e.Path).Order());
        foreach (var name in sources)
        {
            var packaged = Shell.Run($"dpkg-deb --fsys-tarfile {packages.Deb} | tar -xO .{BpfObjectLocator.PackagedDirectory}/{name} | sha256sum");
            Assert.Equal(Shell.Run($"sha256sum < {Path.Combine(packages.Root, "artifacts/publish/bpf", name)}"), packaged);
        }
    }

    /// <summary>
    /// The image k8s/daemonset.yaml runs installs the .deb itself, so it holds whatever the package holds (every
    /// BPF object included) instead of a second list of files that could miss one.
    /// </summary>
    [Fact]
    public void Image_InstallsTheDebAndCopiesNothingElseFromTheBuild()
    {
        var containerfile = File.ReadAllText(Path.Combine(packages.Root, "k8s/Containerfile"));
        var copies = containerfile.Split('\n').Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)).ToArray();

        Assert.Equal(["COPY artifacts/packages/udp-fanout_*_amd64.deb /tmp/"], copies);
        Assert.Contains("apt-get install -y --no-install-recommends /tmp/udp-fanout_*_amd64.deb", containerfile);
    }

    /// <summary>`dpkg-deb -c`: path ("/" for the archive root), symbolic mode and owner of every entry.</summary>
    private (string Path, string Mode, string Owner)[] DebEntries() =>
        Shell.Run($"dpkg-deb -c {packages.Deb}").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => (Path: f[^1] == "./" ? "/" : f[^1].TrimStart('.').TrimEnd('/'), Mode: f[0], Owner: f[1]))
            .ToArray();

    /// <summary>Path, octal mode (100644 for a file, 40755 for a directory) and file flags of every entry.</summary>
    private (string Path, string Mode, string Flags)[] RpmEntries() =>
        Shell.Run($"rpm -qp --queryformat '[%{{FILENAMES}} %{{FILEMODES:octal}} %{{FILEFLAGS:fflags}}\\n]' {packages.Rpm}")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Select(f => (f[0], f[1], f.Length > 2 ? f[2] : ""))
            .ToArray();

    private static IEnumerable<string> Ancestors(string path)
    {
        for (var dir = Path.GetDirectoryName(path); dir is not null and not "/"; dir = Path.GetDirectoryName(dir))
        {
            yield return dir;
        }
    }

    private static string Symbolic(char kind, int mode) =>
        kind + string.Concat(Enumerable.Range(0, 9).Select(i => (mode & (1 << (8 - i))) != 0 ? "rwx"[i % 3] : '-'));
}
