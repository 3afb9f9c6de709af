using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Tools;

/// <summary>
/// tools/test.sh as the README's quick start runs it: on a root shell that has no sudo, and from a user's shell
/// through sudo. It runs in a copy of itself whose tools/install-deps.sh only records that it was reached, so
/// these tests check how the script starts and never run the suite inside the suite.
/// </summary>
public sealed class TestScriptTests : IDisposable
{
    private static readonly string Root = ConfigLoaderTests.RepositoryRoot();
    private readonly DirectoryInfo _tree = Directory.CreateTempSubdirectory("test-sh-");

    public TestScriptTests()
    {
        Directory.CreateDirectory(Path.Combine(_tree.FullName, "tools"));
        Directory.CreateDirectory(Path.Combine(_tree.FullName, "bin"));
        Directory.CreateDirectory(Path.Combine(_tree.FullName, "out"));
        File.Copy(Path.Combine(Root, "tools/test.sh"), Path.Combine(_tree.FullName, "tools/test.sh"));
        File.WriteAllText(Path.Combine(_tree.FullName, "tools/install-deps.sh"), $"id -u > {Out("reached")}\nexit 1\n");
        // Only the tools the script needs before it runs anything: no sudo unless a test puts one there.
        foreach (var tool in new[] { "bash", "sh", "id", "dirname", "readlink", "env" })
        {
            File.CreateSymbolicLink(Path.Combine(_tree.FullName, "bin", tool), Shell.Run($"command -v {tool}").Trim());
        }
        Shell.Run($"chmod -R a+rX {_tree.FullName} && chmod a+rwx {Out("")}");
    }

    public void Dispose() => _tree.Delete(recursive: true);

    [Fact]
    public void QuickStartCommand_OnARootShellWithoutSudo_RunsTheSuite()
    {
        var command = QuickStartTestCommand();

        var (code, output) = Shell.TryRun($"cd {_tree.FullName} && PATH={Bin} {command}");

        Assert.True(File.Exists(Out("reached")), $"`{command}` as root without sudo stopped before the tests (exit {code}): {output}");
        Assert.Equal("0", File.ReadAllText(Out("reached")).Trim());
    }

    [Fact]
    public void QuickStartCommand_AsAUserWithSudo_RunsItselfAgainThroughSudoWithItsArguments()
    {
        File.WriteAllText(Path.Combine(_tree.FullName, "bin/sudo"), $"#!{Bin}/sh\necho \"$@\" > {Out("sudo")}\n");
        Shell.Run($"chmod a+rx {_tree.FullName}/bin/sudo");

        var (code, output) = AsNobody($"{QuickStartTestCommand()} --filter Some.Test");

        Assert.True(code == 0, $"exited {code}: {output}");
        Assert.Equal($"env PATH={Bin} bash {_tree.FullName}/tools/test.sh --filter Some.Test", File.ReadAllText(Out("sudo")).Trim());
        Assert.False(File.Exists(Out("reached")), "the user's own run stops after handing over to sudo");
    }

    [Fact]
    public void QuickStartCommand_AsAUserWithoutSudo_SaysHowToRunIt()
    {
        var (code, output) = AsNobody(QuickStartTestCommand());

        Assert.Equal(2, code);
        Assert.Contains("tools/test.sh: run as root, or as a user with sudo", output);
        Assert.False(File.Exists(Out("reached")));
    }

    private string Bin => Path.Combine(_tree.FullName, "bin");

    private string Out(string name) => Path.Combine(_tree.FullName, "out", name);

    private (int Code, string Output) AsNobody(string command) =>
        Shell.TryRun($"cd {_tree.FullName} && setpriv --reuid=65534 --regid=65534 --clear-groups env PATH={Bin} {command}");

    /// <summary>The README's quick-start line that runs the tests, without its comment.</summary>
    private static string QuickStartTestCommand()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var quickStart = readme[readme.IndexOf("## Quick start", StringComparison.Ordinal)..];
        var line = quickStart.Split('\n').First(l => l.Contains("tools/test.sh", StringComparison.Ordinal));
        return line.Split('#')[0].Trim();
    }
}
