using Microsoft.Win32.SafeHandles;
using UdpFanout.Bpf;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// One interface's XDP chain pinned in the BPF filesystem, <c>&lt;chains&gt;/&lt;netns inode&gt;-&lt;ifindex&gt;/</c>:
/// the root's XDP link (<c>link</c>), which keeps the root attached while the pin exists, the chain's prog array
/// (<c>chain</c>), whose entries a pin keeps when the process that filled them is gone, and its
/// <see cref="XdpChainOwners"/> (<c>owners</c>). Every process with a listener on the interface opens the same three,
/// so its listener's program takes a slot of the one chain; the last one out removes the directory, and the link
/// detaches once no descriptor holds it either. Used under the <see cref="XdpPinLock"/>.
/// </summary>
internal sealed class XdpChainPins : IDisposable
{
    private XdpChainPins(string directory, BpfLink link, SafeFileHandle chain, XdpChainOwners owners)
    {
        Directory = directory;
        Link = link;
        Chain = chain;
        Owners = owners;
    }

    public string Directory { get; }

    /// <summary>This process's descriptor of the pinned link; the caller takes it over (the store may keep it), and <see cref="Dispose"/> leaves it.</summary>
    public BpfLink Link { get; }

    public SafeFileHandle Chain { get; }

    public XdpChainOwners Owners { get; }

    /// <summary>The directory of <paramref name="ifindex"/> of the calling thread's network namespace.</summary>
    public static string DirectoryOf(string chains, int ifindex)
    {
        // "net:[4026531840]": interface indexes are per namespace, and the namespace's inode names it while it lives.
        var name = CurrentNetns.Name();
        var inode = name[(name.IndexOf('[') + 1)..^1];
        return Path.Combine(chains, $"{inode}-{ifindex}");
    }

    /// <summary>The chain pinned in <paramref name="directory"/>, or null when there is none (or not all of it).</summary>
    public static XdpChainPins? Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return null;
        }
        BpfLink? link = null;
        SafeFileHandle? chain = null, owners = null;
        try
        {
            link = Get(directory, "link") is { } linkFd ? new BpfLink(linkFd) : null;
            chain = Get(directory, "chain") is { } chainFd ? new SafeFileHandle(chainFd, ownsHandle: true) : null;
            owners = Get(directory, "owners") is { } ownersFd ? new SafeFileHandle(ownersFd, ownsHandle: true) : null;
            if (link is not null && chain is not null && owners is not null)
            {
                return new XdpChainPins(directory, link, chain, XdpChainOwners.Adopt(owners));
            }
            // A process killed while it pinned left a part: the caller removes it and makes the chain anew.
        }
        catch (BpfException)
        {
            link?.Dispose();
            chain?.Dispose();
            owners?.Dispose();
            throw;
        }
        link?.Dispose();
        chain?.Dispose();
        owners?.Dispose();
        return null;
    }

    /// <summary>Pins a chain this process just attached; on failure nothing of it stays pinned.</summary>
    public static void Pin(string directory, BpfLink link, int chainFd, XdpChainOwners owners)
    {
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            Pin(directory, "owners", owners.Fd);
            Pin(directory, "chain", chainFd);
            // Last: a directory with a link is a whole chain.
            Pin(directory, "link", link.Fd);
        }
        catch (Exception e) when (e is BpfException or IOException or UnauthorizedAccessException)
        {
            Remove(directory);
            throw e as BpfException ?? new BpfException($"cannot pin the XDP chain in {directory}: {e.Message}", Interop.Libc.EACCES);
        }
    }

    /// <summary>The id of the link pinned in <paramref name="directory"/>, or null when there is none.</summary>
    public static uint? LinkId(string directory)
    {
        if (Get(directory, "link") is not { } fd)
        {
            return null;
        }
        using var link = new BpfLink(fd);
        return link.Info().id;
    }

    /// <summary>Unpins all of a chain; what a descriptor still holds lives on (an empty prog array clears).</summary>
    public static void Remove(string directory)
    {
        if (System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    public void Dispose()
    {
        Chain.Dispose();
        Owners.Dispose();
    }

    /// <summary>A new descriptor of what <paramref name="name"/> pins, or null when it is not there.</summary>
    private static int? Get(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        var fd = bpf_obj_get(path);
        return fd >= 0 ? fd : -fd == Interop.Libc.ENOENT ? null : throw BpfException.For($"cannot open {path}", -fd);
    }

    private static void Pin(string directory, string name, int fd)
    {
        var path = Path.Combine(directory, name);
        var result = bpf_obj_pin(fd, path);
        if (result < 0)
        {
            throw BpfException.For($"cannot pin {path}", -result);
        }
    }
}
