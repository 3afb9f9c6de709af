using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;
using YamlDotNet.RepresentationModel;

namespace UdpFanout.Tests.Packaging;

/// <summary>Builds the .deb and .rpm once (tools/package.sh) for every packaging test, and reads nfpm.yaml.</summary>
public sealed class PackagesFixture
{
    public PackagesFixture()
    {
        Root = ConfigLoaderTests.RepositoryRoot();
        var built = Shell.Run($"cd {Root} && bash tools/package.sh").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Deb = Path.Combine(Root, built.Single(p => p.EndsWith(".deb", StringComparison.Ordinal)));
        Rpm = Path.Combine(Root, built.Single(p => p.EndsWith(".rpm", StringComparison.Ordinal)));
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Path.Combine(Root, "nfpm.yaml"))));
        Manifest = (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    public string Root { get; }

    public string Deb { get; }

    public string Rpm { get; }

    /// <summary>The binary the packages were built from (tools/package.sh publishes it there).</summary>
    public string PublishedBinary => Path.Combine(Root, "artifacts/publish/udp-fanout");

    public YamlMappingNode Manifest { get; }

    /// <summary>
    /// nfpm.yaml's files for one format ("deb" or "rpm"; nfpm's <c>packager:</c> limits an entry to one): destination,
    /// mode and type ("", "config|noreplace" or "doc"). Directories are in <see cref="Directories"/>.
    /// </summary>
    public IReadOnlyList<(string Path, int Mode, string Type)> Contents(string format) =>
        Entries(format).Where(e => e.Type != "dir").ToArray();

    /// <summary>The directories nfpm.yaml lists (type: dir), which the packages own.</summary>
    public IReadOnlyList<(string Path, int Mode, string Type)> Directories(string format) =>
        Entries(format).Where(e => e.Type == "dir").ToArray();

    /// <summary>
    /// Files nfpm writes into a .deb without a contents entry: the changelog it renders from nfpm.yaml's
    /// <c>changelog:</c> file. The .rpm carries the changelog in its header instead.
    /// </summary>
    public IReadOnlyList<(string Path, int Mode, string Type)> GeneratedDebFiles =>
        Manifest.Children.ContainsKey("changelog") ? [($"/usr/share/doc/{Manifest["name"]}/changelog.Debian.gz", Convert.ToInt32("644", 8), "")] : [];

    public IReadOnlyList<string> Depends(string format) =>
        ((YamlSequenceNode)Override(format)["depends"]).Select(d => d.ToString()).ToArray();

    /// <summary>One maintainer script of one format, by nfpm's name for it (postinstall, preremove, postremove).</summary>
    public string Script(string format, string name) =>
        File.ReadAllText(Path.Combine(Root, ((YamlMappingNode)Override(format)["scripts"])[name].ToString()));

    private YamlMappingNode Override(string format) => (YamlMappingNode)((YamlMappingNode)Manifest["overrides"])[format];

    private IEnumerable<(string Path, int Mode, string Type)> Entries(string format) =>
        ((YamlSequenceNode)Manifest["contents"]).Cast<YamlMappingNode>()
            .Where(item => !item.Children.ContainsKey("packager") || item["packager"].ToString() == format)
            .Select(item => (
                item["dst"].ToString(),
                Convert.ToInt32(((YamlMappingNode)item["file_info"])["mode"].ToString(), 8),
                item.Children.ContainsKey("type") ? item["type"].ToString() : ""));
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagesCollection : ICollectionFixture<PackagesFixture>
{
    public const string Name = "packages";
}
