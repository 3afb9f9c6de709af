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

    public YamlMappingNode Manifest { get; }

    /// <summary>nfpm.yaml's contents: destination, mode and type ("", "config|noreplace" or "doc").</summary>
    public IReadOnlyList<(string Path, int Mode, string Type)> Contents =>
        ((YamlSequenceNode)Manifest["contents"]).Cast<YamlMappingNode>()
            .Select(item => (
                item["dst"].ToString(),
                Convert.ToInt32(((YamlMappingNode)item["file_info"])["mode"].ToString(), 8),
                item.Children.ContainsKey("type") ? item["type"].ToString() : ""))
            .ToArray();

    public IReadOnlyList<string> Depends(string format) =>
        ((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)Manifest["overrides"])[format])["depends"]).Select(d => d.ToString()).ToArray();

    public string Script(string name) => File.ReadAllText(Path.Combine(Root, ((YamlMappingNode)Manifest["scripts"])[name].ToString()));
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagesCollection : ICollectionFixture<PackagesFixture>
{
    public const string Name = "packages";
}
