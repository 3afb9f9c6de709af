using System.Runtime.InteropServices;
using UdpFanout.Model;
using static Interop.Libc;

namespace UdpFanout.Forwarding;

/// <summary>
/// One batch of datagrams on their way out with sendmmsg: each entry points at a payload already in memory (a
/// receive buffer or an AF_XDP frame) and at its downstream's address. Sending never blocks: what would block is
/// dropped and counted. IPv6 datagrams go from their downstream's connected socket where it has one (one sendmmsg
/// per downstream), else from the worker's IPv6 socket. Native memory, allocated once per worker; nothing here
/// allocates per datagram.
/// </summary>
internal sealed unsafe class SendBatch : IDisposable
{
    // Sends of one datagram while ICMP errors for earlier ones keep failing it; bounds the loop under an ICMP flood.
    private const int MaxTries = 8;

    // One lane per family: a sendmmsg goes through one socket, and each family has its own (SendSocket).
    private readonly Lane _v4;
    private readonly Lane _v6;
    // The IPv6 datagrams for downstreams with a connected socket (ConnectedIpv6Sockets), one run per downstream,
    // each run starting at its index in _runStarts.
    private readonly Lane _connected;
    private readonly int[] _runStarts;
    // The downstream of each run, and per downstream the count of its datagrams, then its next place in a run:
    // zero between batches.
    private readonly int[] _runTargets;
    private int[] _place = new int[16];
    private long[] _tallyPackets = new long[16];
    private long[] _tallyBytes = new long[16];
    // The set of the send under way, whose tallies Abandon hands to its counters.
    private ActiveDownstreams? _sending;

    /// <param name="ipv6SourcesGiven">
    /// Whether each IPv6 datagram carries its downstream's learnt source (<see cref="DownstreamSources"/>): for an
    /// IPv6 socket bound to the wildcard, which the kernel would otherwise select a source for per datagram.
    /// </param>
    public SendBatch(int capacity, bool ipv6SourcesGiven)
    {
        _v4 = new Lane(capacity, sources: false);
        _v6 = new Lane(capacity, ipv6SourcesGiven);
        _connected = new Lane(capacity, sources: false);
        _runStarts = new int[capacity + 1];
        _runTargets = new int[capacity];
    }

    public int Count => _v4.Count + _v6.Count;

    /// <summary>Queues <paramref name="length"/> bytes at <paramref name="payload"/> for downstream <paramref name="target"/>.</summary>
    public void Add(void* payload, uint length, int target, ActiveDownstreams downstreams)
    {
        ref readonly var address = ref downstreams.Addresses[target];
        if (address.family != AF_INET6)
        {
            _v4.Add(payload, length, target, address);
            return;
        }
        // Read once: the follower may replace the whole array meanwhile, never an entry in it.
        var sources = _v6.GivesSources ? downstreams.Sources.Current : [];
        if (target < sources.Length && DownstreamSources.Known(sources[target]))
        {
            _v6.Add(payload, length, target, address, sources[target]);
        }
        else
        {
            _v6.Add(payload, length, target, address);
        }
    }

    /// <summary>Sends every queued datagram from <paramref name="socket"/>, counts each as forwarded or dropped, and empties the batch.</summary>
    public void Send(SendSocket socket, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        if (_tallyPackets.Length < downstreams.Count)
        {
            // Only when a larger downstream set arrives, never per datagram.
            _tallyPackets = new long[downstreams.Count];
            _tallyBytes = new long[downstreams.Count];
            _place = new int[downstreams.Count];
        }
        _sending = downstreams;
        Send(_v4, socket.Fd, socket, downstreams, counters);
        if (socket.Fd6 >= 0)
        {
            if (_v6.Count > 0 && socket.Connected?.For(downstreams) is { Length: > 0 } connected)
            {
                SendConnected(connected, socket, downstreams, counters);
            }
            Send(_v6, socket.Fd6, socket, downstreams, counters);
        }
        else
        {
            // No IPv6 on this host (SendSocket.Open): a datagram for an IPv6 downstream cannot leave.
            counters.Dropped[(int)DropReason.SendError] += _v6.Count;
        }
        Tally(downstreams);
        _sending = null;
        _v4.Count = 0;
        _v6.Count = 0;
        _connected.Count = 0;
    }

    /// <summary>
    /// Takes the IPv6 datagrams whose downstream has a connected socket out of the IPv6 lane and sends them from
    /// those sockets, one sendmmsg per downstream; the others stay in the lane for the unconnected socket. A counting
    /// sort by downstream: two passes over the batch, whatever the number of downstreams, each run in arrival order.
    /// </summary>
    private void SendConnected(int[] connected, SendSocket socket, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        var lane = _v6;
        // Each connected downstream's datagrams, its run numbered by its first appearance.
        var runs = 0;
        for (var i = 0; i < lane.Count; i++)
        {
            var target = lane.Target[i];
            if (connected[target] >= 0 && _place[target]++ == 0)
            {
                _runTargets[runs++] = target;
            }
        }
        // Each run's start; _place now holds where its downstream's next datagram goes.
        var end = 0;
        for (var r = 0; r < runs; r++)
        {
            ref var place = ref _place[_runTargets[r]];
            (_runStarts[r], end, place) = (end, end + place, end);
        }
        _runStarts[runs] = end;
        var kept = 0;
        for (var i = 0; i < lane.Count; i++)
        {
            var target = lane.Target[i];
            if (connected[target] < 0)
            {
                lane.Move(i, kept++);
            }
            else
            {
                _connected.PutConnected(_place[target]++, lane.Iov[i].iov_base, (uint)lane.Iov[i].iov_len, target);
            }
        }
        lane.Count = kept;
        _connected.Count = end;
        for (var r = 0; r < runs; r++)
        {
            _place[_runTargets[r]] = 0;
        }
        for (var r = 0; r < runs; r++)
        {
            var start = _runStarts[r];
            Send(_connected, start, _runStarts[r + 1], connected[_connected.Target[start]], socket, downstreams, counters);
        }
    }

    private void Send(Lane lane, int fd, SendSocket socket, ActiveDownstreams downstreams, WorkerCounters counters) =>
        Send(lane, 0, lane.Count, fd, socket, downstreams, counters);

    /// <summary>Sends datagrams <paramref name="first"/> to <paramref name="end"/> of <paramref name="lane"/> from <paramref name="fd"/>.</summary>
    private void Send(Lane lane, int first, int end, int fd, SendSocket socket, ActiveDownstreams downstreams, WorkerCounters counters)
    {
        var queued = end;
        var offset = first;
        var failedAt = -1;
        var tries = 0;
        while (offset < queued)
        {
            var sent = sendmmsg(fd, lane.Hdr + offset, (uint)(queued - offset), MSG_DONTWAIT);
            if (sent > 0)
            {
                for (var i = offset; i < offset + sent; i++)
                {
                    var bytes = (long)lane.Iov[i].iov_len;
                    _tallyPackets[lane.Target[i]]++;
                    _tallyBytes[lane.Target[i]] += bytes;
                    counters.Forwarded++;
                    counters.ForwardedBytes += bytes;
                }
                offset += sent;
                if (offset < queued)
                {
                    // Stopped short: when by an ICMP error for an earlier datagram (sendmmsg reports only the count),
                    // that error is consumed and the next call sends the rest, but its queued report must be read
                    // now: each one takes receive-buffer space until then, and a full buffer loses the next ones.
                    socket.ReadErrors(downstreams);
                }
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
            {
                continue;
            }
            if (errno is EINVAL or EADDRNOTAVAIL && lane.TakeSource(offset))
            {
                // The learnt source is no longer the host's (its address removed, or a route moved since): this
                // datagram goes again with the kernel's choice, and the sources are learnt afresh off this path.
                counters.StaleSources++;
                downstreams.Sources.MarkStale();
                continue;
            }
            if (errno is EAGAIN or ENOBUFS)
            {
                // The socket or device queue is full: this batch's remaining datagrams cannot go now.
                counters.Dropped[(int)DropReason.SendBufferFull] += queued - offset;
                break;
            }
            // An ICMP error that came back for an earlier datagram, to any downstream, fails the next send once and
            // leaves that datagram unsent: count the queued errors (which clears it) and send it again. Try again
            // while new errors keep arriving in between; a failure with none queued is the datagram's own.
            if (failedAt != offset)
            {
                failedAt = offset;
                tries = 0;
            }
            var errorsRead = socket.ReadErrors(downstreams);
            if (tries++ == 0 || (errorsRead > 0 && tries <= MaxTries))
            {
                continue;
            }
            // The datagram failed on its own account (no route, say): skip it, keep the rest of the batch.
            counters.Dropped[(int)DropReason.SendError]++;
            offset++;
        }
    }

    /// <summary>
    /// Empties the batch of a worker that failed before or while sending it: what was sent stays counted, also per
    /// downstream; the rest is the caller's to count as dropped.
    /// </summary>
    public void Abandon()
    {
        if (_sending is { } downstreams)
        {
            Tally(downstreams);
            _sending = null;
        }
        _v4.Count = 0;
        _v6.Count = 0;
        _connected.Count = 0;
    }

    private void Tally(ActiveDownstreams downstreams)
    {
        for (var t = 0; t < downstreams.Count; t++)
        {
            if (_tallyPackets[t] != 0)
            {
                downstreams.Counters[t].Add(_tallyPackets[t], _tallyBytes[t]);
                _tallyPackets[t] = 0;
                _tallyBytes[t] = 0;
            }
        }
    }

    public void Dispose()
    {
        _v4.Dispose();
        _v6.Dispose();
        _connected.Dispose();
    }

    /// <summary>
    /// The datagrams of one family: their headers, payloads, addresses and downstream indexes, in native memory, and
    /// for an IPv6 lane that gives sources, one IPV6_PKTINFO control message per datagram.
    /// </summary>
    internal sealed class Lane : IDisposable
    {
        /// <summary>CMSG_SPACE(sizeof(struct in6_pktinfo)): the header, then the 20-byte in6_pktinfo padded to 8 bytes.</summary>
        public static readonly int ControlSpace = Align(sizeof(cmsghdr)) + Align(sizeof(in6_pktinfo));

        /// <summary>CMSG_LEN(sizeof(struct in6_pktinfo)): what cmsg_len says, without the trailing padding.</summary>
        public static readonly int ControlLength = Align(sizeof(cmsghdr)) + sizeof(in6_pktinfo);

        public Lane(int capacity, bool sources)
        {
            Hdr = (mmsghdr*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(mmsghdr));
            Iov = (iovec*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(iovec));
            Addr = (sockaddr_inet*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)sizeof(sockaddr_inet));
            Target = (int*)NativeMemory.AllocZeroed((nuint)capacity, sizeof(int));
            if (sources)
            {
                // The headers never change: written once here, only each message's address later.
                Control = (byte*)NativeMemory.AllocZeroed((nuint)capacity, (nuint)ControlSpace);
                for (var i = 0; i < capacity; i++)
                {
                    var header = (cmsghdr*)(Control + i * ControlSpace);
                    header->cmsg_len = (nuint)ControlLength;
                    header->cmsg_level = SOL_IPV6;
                    header->cmsg_type = IPV6_PKTINFO;
                }
            }
        }

        public bool GivesSources => Control != null;

        public mmsghdr* Hdr { get; }

        public iovec* Iov { get; }

        public sockaddr_inet* Addr { get; }

        public int* Target { get; }

        /// <summary>One control message of ControlSpace bytes per datagram; null for a lane that gives no sources.</summary>
        public byte* Control { get; }

        public int Count { get; set; }

        /// <summary>Queues a datagram with <paramref name="source"/> as its source address (a lane that gives sources only).</summary>
        public void Add(void* payload, uint length, int target, in sockaddr_inet address, in in6_pktinfo source)
        {
            var i = Count;
            Add(payload, length, target, address);
            var control = Control + i * ControlSpace;
            *(in6_pktinfo*)(control + Align(sizeof(cmsghdr))) = source;
            ref var h = ref Hdr[i].msg_hdr;
            h.msg_control = control;
            h.msg_controllen = (nuint)ControlSpace;
        }

        /// <summary>Puts a datagram for a connected socket, which sends to its own peer (no address), at place <paramref name="i"/>.</summary>
        public void PutConnected(int i, void* payload, uint length, int target)
        {
            Put(i, payload, length, target, default);
            Hdr[i].msg_hdr.msg_name = null;
            Hdr[i].msg_hdr.msg_namelen = 0;
        }

        /// <summary>Moves datagram <paramref name="from"/> to the earlier place <paramref name="to"/>, its address and source with it.</summary>
        public void Move(int from, int to)
        {
            if (from == to)
            {
                return;
            }
            ref var h = ref Hdr[from].msg_hdr;
            var source = h.msg_control;
            Addr[to] = Addr[from];
            Target[to] = Target[from];
            Iov[to] = Iov[from];
            Hdr[to] = Hdr[from];
            ref var moved = ref Hdr[to].msg_hdr;
            moved.msg_name = Addr + to;
            moved.msg_iov = Iov + to;
            if (source != null)
            {
                var control = Control + to * ControlSpace;
                Buffer.MemoryCopy(source, control, ControlSpace, ControlSpace);
                moved.msg_control = control;
            }
        }

        /// <summary>Drops datagram <paramref name="i"/>'s given source, the kernel choosing one again; false when it had none.</summary>
        public bool TakeSource(int i)
        {
            ref var h = ref Hdr[i].msg_hdr;
            if (h.msg_control == null)
            {
                return false;
            }
            h.msg_control = null;
            h.msg_controllen = 0;
            return true;
        }

        public void Add(void* payload, uint length, int target, in sockaddr_inet address) => Put(Count++, payload, length, target, address);

        private void Put(int i, void* payload, uint length, int target, in sockaddr_inet address)
        {
            Addr[i] = address;
            Target[i] = target;
            Iov[i] = new iovec { iov_base = payload, iov_len = length };
            ref var h = ref Hdr[i].msg_hdr;
            h.msg_name = Addr + i;
            h.msg_namelen = address.Length;
            h.msg_iov = Iov + i;
            h.msg_iovlen = 1;
            // The entry may have carried a source in an earlier batch.
            h.msg_control = null;
            h.msg_controllen = 0;
        }

        private DisposeOnce _disposed;

        public void Dispose()
        {
            if (!_disposed.First())
            {
                return;
            }
            NativeMemory.Free(Hdr);
            NativeMemory.Free(Iov);
            NativeMemory.Free(Addr);
            NativeMemory.Free(Target);
            NativeMemory.Free(Control);
        }

        private static int Align(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);
    }
}
