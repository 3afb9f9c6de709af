using UdpFanout.Bpf;
using UdpFanout.Systemd;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// A listener's program on an interface's tc ingress through a tcx link of its own. Links are independent: several
/// listeners share an interface, each program lets what is not its listener's go on to the next (TC_ACT_UNSPEC is
/// tcx's "next"), and closing a link detaches only its own program, never another listener's or another tool's tc
/// filters (which run after the tcx programs). The link is kept in the <see cref="FileDescriptorStore"/>: under
/// systemd it stays open across a restart, so the program goes on forwarding while no process runs, and the next
/// one swaps its own program in atomically; when systemd flushes the store (stop, removal) the kernel detaches it.
/// </summary>
internal sealed class TcxAttachment : IDisposable
{
    private readonly BpfLink _link;
    private readonly FileDescriptorStore _store;
    private readonly string _name;
    private bool _released;

    private TcxAttachment(BpfLink link, FileDescriptorStore store, string name)
    {
        _link = link;
        _store = store;
        _name = name;
    }

    /// <summary>Whether the program replaced one that a kept link ran, rather than attaching anew.</summary>
    public bool TookOver { get; private init; }

    /// <summary>The link's name in systemd's file descriptor store.</summary>
    public static string StoreName(string listener) => $"{listener}/tcx";

    public static TcxAttachment Attach(int ifindex, string ifname, int programFd, string listener, FileDescriptorStore store)
    {
        var name = StoreName(listener);
        var what = $"the tc program to {ifname} ingress";
        if (store.Take(name, fd => new BpfLink(fd), link => IsTcxIngressOf(link, ifindex)) is { } kept)
        {
            try
            {
                // The kept program forwards until this returns and this one from then on: no datagram meets neither.
                kept.Update(programFd, what);
                return new TcxAttachment(kept, store, name) { TookOver = true };
            }
            catch
            {
                // Detaches the old program: better than one that forwards with no process to update or count it.
                // Closing this copy alone would not: systemd's copy in its store keeps the link attached.
                try
                {
                    kept.Detach(what);
                }
                catch (BpfException)
                {
                    // The update's error is the one to report; the store's copy goes below all the same.
                }
                store.Drop(name, kept);
                throw;
            }
        }
        var link = BpfLink.Create(programFd, ifindex, BPF_TCX_INGRESS, what);
        store.Keep(name, link.Fd);
        return new TcxAttachment(link, store, name);
    }

    /// <summary>Gives the link back to the store: under systemd it stays attached for the next process or listener, else it detaches now.</summary>
    public void Dispose()
    {
        if (!_released)
        {
            _released = true;
            _store.Return(_name, _link);
        }
    }

    private static bool IsTcxIngressOf(BpfLink link, int ifindex) =>
        link.Info() is { type: BPF_LINK_TYPE_TCX, tcx_attach_type: BPF_TCX_INGRESS } info && info.tcx_ifindex == (uint)ifindex;
}
