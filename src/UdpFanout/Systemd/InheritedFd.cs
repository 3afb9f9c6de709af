namespace UdpFanout.Systemd;

/// <summary>
/// A descriptor systemd passed at start (LISTEN_FDS) that no listener has taken yet: a plain number until the one
/// that takes it wraps it in its own type (a socket, a BPF link); closed if none does.
/// </summary>
internal sealed class InheritedFd(int fd) : IDisposable
{
    public int Fd { get; } = fd;

    public void Dispose() => Interop.Libc.close(Fd);
}
