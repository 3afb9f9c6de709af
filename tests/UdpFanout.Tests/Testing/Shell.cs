using System.Diagnostics;

namespace UdpFanout.Tests.Testing;

/// <summary>Runs the system's tools (ip, tc, nft, ...) the way an operator would.</summary>
internal static class Shell
{
    public static string Run(string command)
    {
        var (code, output) = TryRun(command);
        Assert.True(code == 0, $"`{command}` exited {code}: {output}");
        return output;
    }

    public static (int Code, string Output) TryRun(string command)
    {
        var start = new ProcessStartInfo("/bin/sh", ["-c", command + " 2>&1"]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
