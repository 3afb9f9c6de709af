using System.Runtime.InteropServices;
using UdpFanout.Bpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// An exclusive flock on the chains' directory: every process's joins, leaves and releases of every interface's
/// chain one at a time, so none reads an owner that another is writing or removes a chain another is joining.
/// A BPF filesystem holds no regular files, but a directory's descriptor takes the lock as well. The kernel lets it
/// go when the descriptor closes, with a crashed process too.
/// </summary>
internal sealed class XdpPinLock : IDisposable
{
    private readonly int _fd;

    private XdpPinLock(int fd) => _fd = fd;

    public static XdpPinLock Take(string directory)
    {
        var fd = Interop.Libc.open(directory, Interop.Libc.O_RDONLY | Interop.Libc.O_DIRECTORY | Interop.Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw BpfException.For($"cannot open {directory} to lock it", Marshal.GetLastPInvokeError());
        }
        while (Interop.Libc.flock(fd, Interop.Libc.LOCK_EX) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Interop.Libc.EINTR)
            {
                Interop.Libc.close(fd);
                throw BpfException.For($"cannot lock {directory}", errno);
            }
        }
        return new XdpPinLock(fd);
    }

    public void Dispose() => Interop.Libc.close(_fd);
}
