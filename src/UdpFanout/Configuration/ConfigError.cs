namespace UdpFanout.Configuration;

/// <summary>One problem in a config file, positioned so an editor can jump to it.</summary>
internal sealed record ConfigError(string File, int Line, int Column, string Path, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Path}: {Message}";
}
