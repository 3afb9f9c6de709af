using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using UdpFanout.Forwarding.Xdp;
using UdpFanout.Tests.Testing;
using static Interop.Libbpf;

namespace UdpFanout.Tests.Forwarding.Xdp;

/// <summary>
/// One interface's XDP slot shared by listeners that separate daemon processes run (one systemd unit per listener):
/// the real binary, twice, each with one listener of the same config, on one veth. The pins live in a BPF filesystem
/// of the test's own, mounted outside /sys so that `ip netns exec` (which mounts a /sys of its own) leaves it visible,
/// and named to the daemons by UDP_FANOUT_BPF_PINS, as the packaged unit does.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class XdpChainAcrossProcessesTests : IDisposable
{
    private const int SteerPort = 5514;
    private const int KernelPort = 5515;
    private const int OtherSteerPort = 5516;
    private const int OtherKernelPort = 5517;
    private const int Slots = global::Interop.Fanout.FANOUT_XDP_CHAIN_SLOTS;

    private readonly NetnsTestbed _bed = NetnsTestbed.Create("kf", "10.186", downstreams: 2);
    private readonly string _pins = $"/run/kf-bpf-{Guid.NewGuid():N}";
    private readonly TempConfig _config;
    private readonly CountingReceiver[] _receivers;
    private readonly Socket _client;
    private readonly List<DaemonProcess> _daemons = [];

    public XdpChainAcrossProcessesTests()
    {
        Shell.Run($"mkdir -p {_pins}");
        Shell.Run($"mount -t bpf bpf {_pins}");
        _receivers = [.. Enumerable.Range(0, 2).Select(i => _bed.Downstreams[i].Invoke(() => new CountingReceiver(IPAddress.Any, 6000)))];
        _client = _bed.Client.Invoke(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        _bed.Client.Exec($"ping -c 1 -W 2 {_bed.ProxyAddress}");
        _config = new TempConfig($"""
            listeners:
              - name: steer
                bind: "{_bed.ProxyAddress}:{SteerPort}"
                mode: af_xdp
                interface: {_bed.ProxyIngress}
                downstream:
                  - {"{"} name: s0, address: "{_bed.DownstreamAddress(0)}:6000" {"}"}
              - name: kernel
                bind: "{_bed.ProxyAddress}:{KernelPort}"
                mode: tc_ebpf
                interface: {_bed.ProxyIngress}
                xdp: on
                downstream:
                  - {"{"} name: s1, address: "{_bed.DownstreamAddress(1)}:6000" {"}"}
              - name: steer2
                bind: "{_bed.ProxyAddress}:{OtherSteerPort}"
                mode: af_xdp
                interface: {_bed.ProxyIngress}
                downstream:
                  - {"{"} name: s1, address: "{_bed.DownstreamAddress(1)}:6000" {"}"}
              - name: kernel2
                bind: "{_bed.ProxyAddress}:{OtherKernelPort}"
                mode: tc_ebpf
                interface: {_bed.ProxyIngress}
                xdp: on
                downstream:
                  - {"{"} name: s0, address: "{_bed.DownstreamAddress(0)}:6000" {"}"}
            metrics: {"{"} enabled: false {"}"}
            """);
    }

    public void Dispose()
    {
        _daemons.ForEach(d => d.Dispose());
        _client.Dispose();
        _config.Dispose();
        foreach (var receiver in _receivers)
        {
            receiver.Dispose();
        }
        _bed.Dispose();
        Shell.TryRun($"umount {_pins}");
        Shell.TryRun($"rmdir {_pins}");
    }

    [Fact]
    public async Task TwoProcesses_AfXdpAndATcXdpLayer_EachForwardsItsOwnOnceAndStoppingOneLeavesTheOther()
    {
        var steer = Start("steer");
        var kernel = Start("kernel");

        Assert.Equal([("kernel", kernel.Pid), ("steer", steer.Pid)], Owners().Select(o => (o.Listener, o.Pid)).Order());
        Assert.All(Owners(), o => Assert.NotNull(ProgramIn(o.Slot)));
        var attached = XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress);
        Assert.True(attached!.Value.Native);
        await SendAsync(SteerPort, _receivers[0], 0, 2_000);
        await SendAsync(KernelPort, _receivers[1], 0, 2_000);
        await AssertExactlyAsync(_receivers[0], 2_000);
        await AssertExactlyAsync(_receivers[1], 2_000);
        Assert.DoesNotContain("no XDP layer", kernel.Output);
        Assert.Contains("with an XDP layer in native mode", kernel.Output);

        Stop(steer);

        // The other's program stays in its slot, on the same link and root: nothing was detached.
        var left = Assert.Single(Owners());
        Assert.Equal(("kernel", kernel.Pid), (left.Listener, left.Pid));
        Assert.NotNull(ProgramIn(left.Slot));
        Assert.Equal(attached, XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));
        await SendAsync(KernelPort, _receivers[1], 2_000, 2_000);
        await AssertExactlyAsync(_receivers[1], 4_000);

        Stop(kernel);

        AssertNothingLeft();
    }

    [Fact]
    public async Task TwoProcesses_TwoTcXdpLayersOnOneInterface_BothInTheChainEachForwardsItsOwnOnce()
    {
        var kernel = Start("kernel");
        var other = Start("kernel2");

        Assert.Equal(["kernel", "kernel2"], Owners().Select(o => o.Listener).Order());
        Assert.All(Owners(), o => Assert.NotNull(ProgramIn(o.Slot)));
        Assert.All([kernel, other], d => Assert.Contains("with an XDP layer in native mode", d.Output));
        await SendAsync(OtherKernelPort, _receivers[0], 0, 2_000);
        await SendAsync(KernelPort, _receivers[1], 0, 2_000);
        await AssertExactlyAsync(_receivers[0], 2_000);
        await AssertExactlyAsync(_receivers[1], 2_000);

        Stop(kernel);
        await SendAsync(OtherKernelPort, _receivers[0], 2_000, 1_000);
        await AssertExactlyAsync(_receivers[0], 3_000);
        Stop(other);

        AssertNothingLeft();
    }

    [Fact]
    public async Task Kill_AfXdpListenerKilledThenStartedAgain_RetakesItsSlotAndReplacesTheDeadProgram()
    {
        var kernel = Start("kernel");
        var steer = Start("steer");
        var slot = Owners().Single(o => o.Listener == "steer").Slot;
        var dead = ProgramIn(slot)!.Value;

        Kill(steer);
        // A pin keeps the chain's entries: the killed listener's program is still in its slot.
        Assert.Equal(dead, ProgramIn(slot));
        steer = Start("steer");

        var owner = Owners().Single(o => o.Listener == "steer");
        Assert.Equal((slot, steer.Pid), (owner.Slot, owner.Pid));
        Assert.NotEqual(dead, ProgramIn(slot));
        await Eventually.TrueAsync(() => !BpfPrograms.Exists(dead), "the killed listener's program to be unloaded");
        await SendAsync(SteerPort, _receivers[0], 0, 1_000);
        await SendAsync(KernelPort, _receivers[1], 0, 1_000);
        await AssertExactlyAsync(_receivers[0], 1_000);
        await AssertExactlyAsync(_receivers[1], 1_000);
        Assert.Contains(("kernel", kernel.Pid), Owners().Select(o => (o.Listener, o.Pid)));
    }

    [Fact]
    public async Task Start_AfterAKillWhosePidAnotherProcessNowHas_TakesTheSlotBack()
    {
        Start("kernel");
        var steer = Start("steer");
        var slot = Owners().Single(o => o.Listener == "steer").Slot;
        Kill(steer);
        // The kernel gives pids out again: a process that holds no descriptor of the chain now has the dead one's.
        using var reuser = Process.Start("sleep", "60")!;
        try
        {
            SetOwner(slot, "steer", reuser.Id);

            steer = Start("steer");

            Assert.Contains((slot, "steer", steer.Pid), Owners());
            await SendAsync(SteerPort, _receivers[0], 0, 1_000);
            await AssertExactlyAsync(_receivers[0], 1_000);
        }
        finally
        {
            reuser.Kill();
        }
    }

    [Fact]
    public async Task Release_AfterAKill_EmptiesTheDeadListenersSlotAndTheLastOneOutLeavesNothing()
    {
        var kernel = Start("kernel");
        var steer = Start("steer");
        var slot = Owners().Single(o => o.Listener == "steer").Slot;
        var dead = ProgramIn(slot)!.Value;
        var pid = steer.Pid;
        Kill(steer);

        var released = Release();

        Assert.Contains($"slot {slot} of listener 'steer' emptied (its process {pid} is gone)", released);
        Assert.Null(ProgramIn(slot));
        await Eventually.TrueAsync(() => !BpfPrograms.Exists(dead), "the killed listener's program to be unloaded");
        Assert.Equal(["kernel"], Owners().Select(o => o.Listener));
        // With its program out, the dead listener's datagrams reach the stack (no one listens: they go nowhere),
        // and the other's still forward.
        await SendAsync(KernelPort, _receivers[1], 0, 1_000);
        await AssertExactlyAsync(_receivers[1], 1_000);
        Send(SteerPort, 0, 100);
        await Task.Delay(300);
        Assert.Equal(0, _receivers[0].Count);

        Kill(kernel);
        Assert.NotNull(XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));
        Release();

        AssertNothingLeft();
    }

    [Fact]
    public async Task TwoProcesses_TwoAfXdpListenersOnOneQueue_TheSecondIsRefusedByTheKernelAndLeavesTheChainAsItWas()
    {
        var steer = Start("steer");
        var slots = Owners();

        // The chain would take both; an interface's queue takes one AF_XDP socket (two only when they share a UMEM,
        // which sockets of separate processes cannot).
        var other = new DaemonProcess(_config.Path, _bed.Proxy, null, Environment(), "--listener", "steer2");
        Assert.True(other.WaitForExit(TimeSpan.FromSeconds(20)), "the second af_xdp listener to give up");
        // Its store, with its copy of the link, goes as systemd's would once the unit gives up.
        other.Dispose();

        Assert.Contains("cannot bind an AF_XDP socket to queue 0: Device or resource busy", other.Output);
        Assert.Equal(slots, Owners());
        await SendAsync(SteerPort, _receivers[0], 0, 2_000);
        await AssertExactlyAsync(_receivers[0], 2_000);

        Stop(steer);

        AssertNothingLeft();
    }

    [Fact]
    public async Task Start_AnotherProcessDemandsTheOtherXdpMode_IsRefusedAndTheChainRunsOn()
    {
        var kernel = Start("kernel");
        using var generic = new TempConfig(File.ReadAllText(_config.Path).Replace("    mode: af_xdp\n", "    mode: af_xdp\n    xdp_mode: skb\n"));

        var steer = Track(new DaemonProcess(generic.Path, _bed.Proxy, null, Environment(), "--listener", "steer"));
        Assert.True(steer.WaitForExit(TimeSpan.FromSeconds(20)), "the af_xdp listener to give up");

        Assert.Contains($"listener 'steer': {_bed.ProxyIngress} already runs other listeners' XDP programs in native mode, and an interface has one mode (set xdp_mode: auto or native)", steer.Output);
        Assert.Equal([("kernel", kernel.Pid)], Owners().Select(o => (o.Listener, o.Pid)));
        await SendAsync(KernelPort, _receivers[1], 0, 1_000);
        await AssertExactlyAsync(_receivers[1], 1_000);
    }

    [Fact]
    public async Task Join_TheSameListenerWhileItsProcessRuns_IsRefusedAndTheFirstForwardsOn()
    {
        // The daemon refuses a second process on the listener's port before it gets here; the chain refuses too.
        var steer = Start("steer");

        var refused = WithPins(() => Assert.Throws<UdpFanout.Bpf.BpfException>(() => Join("steer")));

        Assert.Equal($"listener 'steer' already holds slot 0 of the XDP chain of {_bed.ProxyIngress}, for process {steer.Pid}, which still runs: one listener runs in one process at a time (stop the other one first)", refused.Message);
        Assert.Equal([("steer", steer.Pid)], Owners().Select(o => (o.Listener, o.Pid)));
        await SendAsync(SteerPort, _receivers[0], 0, 1_000);
        await AssertExactlyAsync(_receivers[0], 1_000);
    }

    [Fact]
    public void Join_EverySlotTaken_IsRefusedWithWhatFreesOneAndTheLastLeaveRemovesEverything()
    {
        var slots = WithPins(() => Enumerable.Range(0, Slots).Select(i => Join($"l{i}")).ToList());
        try
        {
            var refused = WithPins(() => Assert.Throws<UdpFanout.Bpf.BpfException>(() => Join("one-too-many")));

            Assert.Equal($"{_bed.ProxyIngress} already has {Slots} listener XDP programs, the most one interface chains (`udp-fanout release` frees the slots of listeners whose process is gone)", refused.Message);
            Assert.Equal(Slots, Owners().Count);
        }
        finally
        {
            WithPins(() => slots.ForEach(slot => slot.Dispose()));
        }

        AssertNothingLeft();
    }

    [Fact]
    public async Task StartAndRelease_AnotherToolsXdpProgramOnTheInterface_IsLeftAlone()
    {
        _bed.Proxy.Exec($"ip link set dev {_bed.ProxyIngress} xdpdrv obj {UdpFanout.Bpf.BpfObjectLocator.Find("xdp_chain.bpf.o")} sec xdp");
        var kernel = Start("kernel");
        using var steer = new DaemonProcess(_config.Path, _bed.Proxy, null, Environment(), "--listener", "steer");

        Assert.True(steer.WaitForExit(TimeSpan.FromSeconds(20)), "the af_xdp listener to give up");
        Assert.Contains("already has an XDP program that no udp-fanout listener of this host shares", steer.Output);
        Assert.Contains("no XDP layer on", kernel.Output);
        await SendAsync(KernelPort, _receivers[1], 0, 1_000);
        Release();
        Stop(kernel);

        Assert.Contains("prog/xdp", _bed.Proxy.Exec($"ip link show {_bed.ProxyIngress}"));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_pins, "xdp")));
    }

    [Fact]
    public async Task Start_NoBpfFilesystem_TheSecondProcessGetsNoSlotAndIsToldWhy()
    {
        // `ip netns exec` mounts a /sys of its own, with no BPF filesystem at /sys/fs/bpf: each process's chain is its own.
        var steer = Track(new DaemonProcess(_config.Path, _bed.Proxy, null, new Dictionary<string, string>(), "--listener", "steer"));
        steer.WaitReady();
        var kernel = Track(new DaemonProcess(_config.Path, _bed.Proxy, null, new Dictionary<string, string>(), "--listener", "kernel"));
        kernel.WaitReady();

        await kernel.WaitForOutputAsync("no XDP layer on");
        Assert.Contains($"{_bed.ProxyIngress} already has an XDP program that no udp-fanout listener of this host shares", kernel.Output);
        Assert.Contains("; this process pins no XDP chain, since /sys/fs/bpf/udp-fanout is not on a BPF filesystem, so it cannot share the slot with listeners of other processes", kernel.Output);
        Assert.DoesNotContain("is not on a BPF filesystem", steer.Output);
        await SendAsync(SteerPort, _receivers[0], 0, 1_000);
        await SendAsync(KernelPort, _receivers[1], 0, 1_000);
        await AssertExactlyAsync(_receivers[0], 1_000);
        await AssertExactlyAsync(_receivers[1], 1_000);
    }

    [Fact]
    public void Release_PinDirectoryItsUserCannotWrite_SaysWhatToDoAndExitsOne()
    {
        Shell.Run($"mkdir -m 0700 {_pins}/root-only");
        var binary = Path.Combine(AppContext.BaseDirectory, "udp-fanout");

        var (code, output) = Shell.TryRun($"{XdpPinRoot.Variable}={_pins}/root-only/udp-fanout setpriv --reuid=65534 --regid=65534 --clear-groups {binary} release");

        Assert.Equal(1, code);
        Assert.Contains($"udp-fanout: cannot open {_pins}/root-only/udp-fanout/xdp, where the interfaces' XDP chains are pinned for every udp-fanout process to share", output);
        Assert.Contains("give the daemon's user that directory (the package's tmpfiles.d entry creates /sys/fs/bpf/udp-fanout for the user udp-fanout; `systemd-tmpfiles --create udp-fanout.conf`), or set UDP_FANOUT_BPF_PINS to a writable directory on a BPF filesystem", output);
    }

    [Fact]
    public void Release_NothingEverPinned_SaysSoCreatesNothingAndSucceeds()
    {
        var elsewhere = Directory.CreateTempSubdirectory("kf-pins-");
        try
        {
            var binary = Path.Combine(AppContext.BaseDirectory, "udp-fanout");

            var (code, output) = Shell.TryRun($"{XdpPinRoot.Variable}={elsewhere.FullName} {binary} release");

            Assert.Equal((0, $"nothing is pinned in {elsewhere.FullName}/xdp"), (code, output.Trim()));
            Assert.Empty(Directory.GetFileSystemEntries(elsewhere.FullName));
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    /// <summary>Runs <paramref name="work"/> in the proxy's namespace with this test's pins, as a daemon there would.</summary>
    private T WithPins<T>(Func<T> work)
    {
        var previous = System.Environment.GetEnvironmentVariable(XdpPinRoot.Variable);
        System.Environment.SetEnvironmentVariable(XdpPinRoot.Variable, _pins);
        try
        {
            return _bed.Proxy.Invoke(work);
        }
        finally
        {
            System.Environment.SetEnvironmentVariable(XdpPinRoot.Variable, previous);
        }
    }

    private void WithPins(Action work) => WithPins(() =>
    {
        work();
        return 0;
    });

    /// <summary>A slot for <paramref name="listener"/> in this process, as a listener's start takes it; outside systemd.</summary>
    private XdpChainSlot Join(string listener) => InterfaceXdpChain.Join(
        (int)global::Interop.Libc.if_nametoindex(_bed.ProxyIngress), _bed.ProxyIngress, listener, UdpFanout.Configuration.XdpAttachMode.Auto, FileDescriptorStores.None(), _ => { });

    private Dictionary<string, string> Environment() => new() { [XdpPinRoot.Variable] = _pins };

    private DaemonProcess Start(string listener)
    {
        var daemon = Track(new DaemonProcess(_config.Path, _bed.Proxy, null, Environment(), "--listener", listener));
        daemon.WaitReady();
        return daemon;
    }

    private DaemonProcess Track(DaemonProcess daemon)
    {
        _daemons.Add(daemon);
        return daemon;
    }

    /// <summary>As systemd's stop: SIGTERM, then the store (here the notify socket, which holds what was stored) goes.</summary>
    private void Stop(DaemonProcess daemon)
    {
        daemon.Signal(DaemonProcess.SIGTERM);
        Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(20)), $"the daemon to stop:\n{daemon.Output}");
        Assert.Equal(0, daemon.ExitCode);
        _daemons.Remove(daemon);
        daemon.Dispose();
    }

    private void Kill(DaemonProcess daemon)
    {
        daemon.Signal(DaemonProcess.SIGKILL);
        Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(20)), "the daemon to die");
        _daemons.Remove(daemon);
        daemon.Dispose();
    }

    /// <summary>`udp-fanout release`, as the unit's ExecStopPost= runs it; its lines.</summary>
    private string Release()
    {
        var binary = Path.Combine(AppContext.BaseDirectory, "udp-fanout");
        return Shell.Run($"{XdpPinRoot.Variable}={_pins} {binary} release");
    }

    private string ChainDirectory() => _bed.Proxy.Invoke(() =>
        XdpChainPins.DirectoryOf(Path.Combine(_pins, "xdp"), (int)global::Interop.Libc.if_nametoindex(_bed.ProxyIngress)));

    private List<(uint Slot, string Listener, int Pid)> Owners()
    {
        using var pins = XdpChainPins.Open(ChainDirectory());
        Assert.NotNull(pins);
        using var link = pins.Link;
        return pins.Owners.Held();
    }

    private void SetOwner(uint slot, string listener, int pid)
    {
        using var pins = XdpChainPins.Open(ChainDirectory());
        Assert.NotNull(pins);
        using var link = pins.Link;
        pins.Owners.Set(slot, listener, pid);
    }

    /// <summary>The id of the program in <paramref name="slot"/> of the pinned chain (a prog array reads as ids), or null.</summary>
    private unsafe uint? ProgramIn(uint slot)
    {
        using var pins = XdpChainPins.Open(ChainDirectory());
        Assert.NotNull(pins);
        using var link = pins.Link;
        var id = 0u;
        return bpf_map_lookup_elem((int)pins.Chain.DangerousGetHandle(), &slot, &id) == 0 ? id : null;
    }

    /// <summary>Sends numbered datagrams <paramref name="from"/> on in bursts, each awaited at <paramref name="receiver"/>.</summary>
    private async Task SendAsync(int port, CountingReceiver receiver, int from, int count)
    {
        for (var burst = from; burst < from + count; burst += 200)
        {
            var end = Math.Min(from + count, burst + 200);
            var before = receiver.Count;
            Send(port, burst, end - burst);
            await Eventually.TrueAsync(() => receiver.Count >= before + (end - burst), $"{end - burst} datagrams to port {port} at their downstream");
        }
    }

    private void Send(int port, int from, int count)
    {
        for (var seq = from; seq < from + count; seq++)
        {
            _client.SendTo(NumberedPayload.Create(seq, 64), new IPEndPoint(_bed.ProxyAddress, port));
        }
    }

    /// <summary>Every sequence number below <paramref name="count"/> once, byte-exact, after a pause for late duplicates.</summary>
    private static async Task AssertExactlyAsync(CountingReceiver receiver, int count)
    {
        await Task.Delay(200);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), receiver.Sequences.Order());
        Assert.Equal(0, receiver.Corrupt);
    }

    /// <summary>The last listener out: no XDP program on the interface and no pins left behind.</summary>
    private void AssertNothingLeft()
    {
        Assert.Null(XdpLinks.Of(_bed.Proxy, _bed.ProxyIngress));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_pins, "xdp")));
    }
}
