namespace UdpFanout.Bpf;

/// <summary>
/// Finds a BPF object file: $UDP_FANOUT_BPF_DIR, then bpf/ next to the binary (a build or publish output), then
/// /usr/lib/udp-fanout/bpf (the packages).
/// </summary>
internal static class BpfObjectLocator
{
    public const string EnvironmentVariable = "UDP_FANOUT_BPF_DIR";
    public const string PackagedDirectory = "/usr/lib/udp-fanout/bpf";

    public static string Find(string fileName)
    {
        var tried = Candidates().Select(dir => Path.Combine(dir, fileName)).ToArray();
        return tried.FirstOrDefault(File.Exists)
            ?? throw new BpfException($"BPF object {fileName} not found; looked in: {string.Join(", ", tried)} (reinstall the package, or set {EnvironmentVariable})", Interop.Libc.ENOENT);
    }

    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } dir)
        {
            yield return dir;
        }
        yield return Path.Combine(AppContext.BaseDirectory, "bpf");
        yield return PackagedDirectory;
    }
}
