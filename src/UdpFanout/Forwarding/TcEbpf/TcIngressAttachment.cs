using System.Net;
using static Interop.Libbpf;

namespace UdpFanout.Forwarding.TcEbpf;

/// <summary>
/// A listener's program attached as a filter of an interface's clsact ingress. Every listener has its own filter,
/// all at one priority, each with a handle that follows from its bind: several listeners share an interface, and a
/// start after a crash finds and replaces its own stale filter instead of stacking a second one. Detaching removes
/// only this listener's filter, and only while it still runs this program (a newer instance of the listener may
/// have taken it over); the clsact qdisc goes only when this process created it and no filter of anyone is left.
/// </summary>
internal sealed unsafe class TcIngressAttachment : IDisposable
{
    /// <summary>"fa" for fan-out: the priority of every listener's filter, apart from other tools' filters.</summary>
    public const uint FilterPriority = 0xfa;

    /// <summary>Attach and detach of this process's listeners one at a time, so none removes the qdisc under another's new filter.</summary>
    private static readonly Lock Gate = new();

    /// <summary>
    /// The interfaces whose clsact qdisc this process created: the last of its listeners to leave one removes it,
    /// whichever listener came first. A qdisc another tool created stays. Interface indexes are per network
    /// namespace, so the namespace is part of the key.
    /// </summary>
    private static readonly HashSet<(string Namespace, int Ifindex)> CreatedQdiscs = [];

    /// <summary>This process's attachments, so two of its listeners whose handles collide are refused, not swapped.</summary>
    private static readonly List<TcIngressAttachment> Live = [];

    private readonly int _ifindex;
    private readonly string _namespace;
    private readonly uint _handle;
    private readonly IPEndPoint _bind;
    private readonly string _listener;
    private readonly uint _programId;
    private bool _detached;

    private TcIngressAttachment(int ifindex, uint handle, IPEndPoint bind, string listener, uint programId)
    {
        _ifindex = ifindex;
        _namespace = CurrentNetns.Name();
        _handle = handle;
        _bind = bind;
        _listener = listener;
        _programId = programId;
    }

    /// <summary>Attaches the program of <paramref name="listener"/>, bound to <paramref name="bind"/>, replacing its own stale filter if a crash left one.</summary>
    public static TcIngressAttachment Attach(int ifindex, string ifname, int programFd, IPEndPoint bind, string listener)
    {
        var handle = Model.TcFilterHandle.For(bind);
        lock (Gate)
        {
            // The same bind may take over (a listener restarted on reload starts before the old one stops).
            var namespaceName = CurrentNetns.Name();
            foreach (var other in Live.Where(a => a._namespace == namespaceName && a._ifindex == ifindex))
            {
                if (Model.TcFilterHandle.Collision(bind, other._bind) is { } collision)
                {
                    throw new ForwarderException($"listener '{listener}': its tc filter on {ifname} would replace listener '{other._listener}''s: {collision}");
                }
            }
            var hook = Hook(ifindex, BPF_TC_INGRESS);
            var created = bpf_tc_hook_create(&hook);
            if (created < 0 && -created != Interop.Libc.EEXIST)
            {
                throw Bpf.BpfException.For($"cannot create the clsact qdisc on {ifname}", -created);
            }
            var opts = Opts(programFd, BPF_TC_F_REPLACE, handle);
            var attached = bpf_tc_attach(&hook, &opts);
            if (attached < 0)
            {
                if (created == 0 && !FiltersMayRemain(ifindex))
                {
                    DestroyQdisc(ifindex);
                }
                throw Bpf.BpfException.For($"cannot attach the tc program to {ifname} ingress", -attached);
            }
            if (created == 0)
            {
                CreatedQdiscs.Add((namespaceName, ifindex));
            }
            var attachment = new TcIngressAttachment(ifindex, handle, bind, listener, opts.prog_id);
            Live.Add(attachment);
            return attachment;
        }
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (_detached)
            {
                return;
            }
            _detached = true;
            Live.Remove(this);
            var hook = Hook(_ifindex, BPF_TC_INGRESS);
            var query = Opts(0, 0, _handle);
            if (bpf_tc_query(&hook, &query) == 0 && query.prog_id == _programId)
            {
                var opts = Opts(0, 0, _handle);
                bpf_tc_detach(&hook, &opts);
            }
            if (CreatedQdiscs.Contains((_namespace, _ifindex)) && !FiltersMayRemain(_ifindex))
            {
                DestroyQdisc(_ifindex);
                CreatedQdiscs.Remove((_namespace, _ifindex));
            }
        }
    }

    /// <summary>
    /// When the kernel cannot say, the qdisc stays: an empty clsact costs nothing, and removing one takes every
    /// filter on it along. A stop path must not throw either.
    /// </summary>
    private static bool FiltersMayRemain(int ifindex)
    {
        try
        {
            return ClsactFilters.AnyOn(ifindex);
        }
        catch (Interop.Netlink.NetlinkException)
        {
            return true;
        }
    }

    private static void DestroyQdisc(int ifindex)
    {
        // Both attach points together name the clsact qdisc itself.
        var hook = Hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&hook);
    }

    private static bpf_tc_hook Hook(int ifindex, int attachPoint) =>
        new() { sz = (nuint)sizeof(bpf_tc_hook), ifindex = ifindex, attach_point = attachPoint };

    private static bpf_tc_opts Opts(int programFd, uint flags, uint handle) =>
        new() { sz = (nuint)sizeof(bpf_tc_opts), prog_fd = programFd, flags = flags, handle = handle, priority = FilterPriority };
}
