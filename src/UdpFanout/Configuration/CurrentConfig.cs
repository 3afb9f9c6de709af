namespace UdpFanout.Configuration;

/// <summary>The config the daemon runs now, and the file it came from; replaced only by a successful reload.</summary>
internal sealed class CurrentConfig(string path, FanoutConfig initial)
{
    public string Path { get; } = path;

    public FanoutConfig Value { get; set; } = initial;
}
