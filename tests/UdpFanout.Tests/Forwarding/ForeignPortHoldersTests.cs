using System.Net;
using System.Net.Sockets;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding;

[Collection(KernelCollection.Name)]
public sealed class ForeignPortHoldersTests : IDisposable
{
    private readonly string _config = Path.Combine(Path.GetTempPath(), $"udp-fanout-{Guid.NewGuid():N}.yaml");
    private readonly IPEndPoint _held = LoopbackPorts.FreeUdp();

    public void Dispose() => File.Delete(_config);

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    public void ThrowIfHeld_AnotherProcessOnThePort_NamesThePortTheProcessAndWhatToDo(string address)
    {
        // The other process is a real daemon holding the port with SO_REUSEPORT, as a second one would meet it.
        File.WriteAllText(_config, $$"""
            listeners:
              - { name: other, bind: "{{_held}}", downstream: [{ name: d, address: "127.0.0.1:9" }] }
            metrics: { enabled: false }
            """);
        using var other = new DaemonProcess(_config);
        other.WaitReady();
        var listener = new ListenerConfig { Name = "syslog", Bind = new IPEndPoint(IPAddress.Parse(address), _held.Port) };

        var error = Assert.Throws<ForwarderException>(() => ForeignPortHolders.ThrowIfHeld(listener));

        Assert.Equal($"listener 'syslog': UDP port {_held.Port} is already in use by process {other.Pid} (udp-fanout) (bound to {_held}): two programs on one port would split its datagrams between them; stop the other program or give this listener another port in bind",
            error.Message);
    }

    [Fact]
    public void Run_WithoutTheSocketTable_RefusesToStartRatherThanShareUnnoticed()
    {
        // A mount namespace where /proc/net is an empty directory, as a sandbox with ProcSubset=pid leaves it.
        File.WriteAllText(_config, $$"""
            listeners:
              - { name: syslog, bind: "{{_held}}", downstream: [{ name: d, address: "127.0.0.1:9" }] }
            metrics: { enabled: false }
            """);
        var binary = Path.Combine(AppContext.BaseDirectory, "udp-fanout");

        var (code, output) = Shell.TryRun($"timeout 20 unshare -m sh -c 'mount -t tmpfs tmpfs /proc/$$/net && exec {binary} --config {_config}'");

        Assert.Equal(1, code);
        Assert.Equal($"udp-fanout: listener 'syslog': cannot read the UDP socket table to check that no other process holds port {_held.Port}: Could not find file '/proc/net/udp'. (a sandbox must leave /proc/net visible: no ProcSubset=pid)",
            output.Trim());
    }

    [Fact]
    public void ThrowIfHeld_ThisProcessOnThePort_IsNotForeign()
    {
        // A listener restarting on reload may meet its own sockets still open.
        using var own = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        own.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var listener = new ListenerConfig { Name = "syslog", Bind = (IPEndPoint)own.LocalEndPoint! };

        Assert.Contains(UdpSocketTable.Read(), s => s.Overlaps(listener.Bind));
        Assert.Null(Record.Exception(() => ForeignPortHolders.ThrowIfHeld(listener)));
    }

    [Fact]
    public void ThrowIfHeld_AnotherAddressOnTheSamePort_IsNotHeld()
    {
        // Not a socket of this process, so only its address keeps it from counting.
        var elsewhere = new UdpSocketEntry(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 5514), long.MaxValue);
        var listener = new ListenerConfig { Name = "syslog", Bind = new IPEndPoint(IPAddress.Loopback, 5514) };

        Assert.Null(Record.Exception(() => ForeignPortHolders.ThrowIfHeld(listener, [elsewhere])));
        Assert.Throws<ForwarderException>(() => ForeignPortHolders.ThrowIfHeld(listener with { Bind = new IPEndPoint(IPAddress.Any, 5514) }, [elsewhere]));
    }
}
