namespace UdpFanout.Tests.Testing;

/// <summary>A config file in the temp folder for a daemon under test; rewritten before a reload, deleted with the test.</summary>
internal sealed class TempConfig : IDisposable
{
    public TempConfig(string text)
    {
        Write(text);
    }

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");

    public void Write(string text) => File.WriteAllText(Path, text);

    public void Dispose() => File.Delete(Path);
}
