using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Systemd;

/// <summary>
/// The listening sockets in systemd's file descriptor store, with the test playing systemd's notify socket: what
/// the userspace listener hands over, what a restarted listener takes back with the datagrams that waited in it,
/// and what leaves the store when the config no longer has it.
/// </summary>
[Collection(KernelCollection.Name)]
public sealed class FileDescriptorStoreTests : IDisposable
{
    private readonly NotifySocket _systemd = new();
    private readonly List<CountingReceiver> _receivers = [];
    private readonly FileDescriptorStore _store;

    public FileDescriptorStoreTests() => _store = new FileDescriptorStore(_systemd.Path, [], NullLogger.Instance);

    public void Dispose()
    {
        _store.CloseSpare();
        _systemd.Dispose();
        _receivers.ForEach(r => r.Dispose());
    }

    [Fact]
    public async Task Start_UnderSystemd_StoresEachWorkersListeningSocketUnderItsName()
    {
        var listener = Listener(workers: 2);
        var forwarder = await StartAsync(listener);
        try
        {
            foreach (var worker in new[] { 0, 1 })
            {
                var (text, passed) = _systemd.Next() ?? throw new Xunit.Sdk.XunitException("no FDSTORE message");
                using (passed)
                {
                    Assert.Equal($"FDSTORE=1\nFDNAME=test/{worker}", text);
                    using var socket = new Socket(new SafeSocketHandle(passed!.DangerousGetHandle(), ownsHandle: false));
                    Assert.Equal(listener.Bind, socket.LocalEndPoint);
                }
            }
        }
        finally
        {
            await forwarder.DisposeAsync();
        }
    }

    [Fact]
    public async Task StartAgain_AfterStop_TakesTheSameSocketsAndForwardsWhatWaitedInThemExactlyOnce()
    {
        var listener = Listener(workers: 2);
        var first = await StartAsync(listener);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await SendAsync(client, listener.Bind, 0, 500);
        await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) == 500, "500 datagrams forwarded before the stop");
        await first.DisposeAsync();

        // Nobody reads now: these wait in the kept sockets' receive buffers.
        await SendAsync(client, listener.Bind, 500, 1000);
        await Task.Delay(300);
        Assert.Equal(500, _receivers.Sum(r => r.Count));
        DrainNotifications();
        var second = await StartAsync(listener);
        try
        {
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 1500, "the datagrams that waited to be forwarded");
            await Task.Delay(200);
            Assert.Equal(Enumerable.Range(0, 1500).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
            Assert.True(_systemd.Next(0.2) is null, "the sockets taken back are in the store already: nothing is stored twice");
        }
        finally
        {
            await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task CloseSpare_AfterRestartOnAnotherPortWithFewerWorkers_ClosesTheOldSocketsAndRemovesThemFromTheStore()
    {
        var before = Listener(workers: 2);
        await (await StartAsync(before)).DisposeAsync();
        DrainNotifications();

        var after = Listener(workers: 1);
        var forwarder = await StartAsync(after);
        try
        {
            _store.CloseSpare();
            var messages = new List<string>();
            while (_systemd.Next(0.5) is var (text, passed))
            {
                passed?.Dispose();
                messages.Add(text);
            }
            // Removed before the new socket is stored under the same name: removal takes every descriptor of a name.
            Assert.Equal(["FDSTOREREMOVE=1\nFDNAME=test/0", "FDSTORE=1\nFDNAME=test/0", "FDSTOREREMOVE=1\nFDNAME=test/1"], messages);
            Assert.DoesNotContain(UdpSocketTable.Read(), s => s.Local.Port == before.Bind.Port);
            // The old port is closed for real: a datagram sent there reaches no one.
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            await SendAsync(client, before.Bind, 0, 10);
            await SendAsync(client, after.Bind, 10, 10);
            await Eventually.TrueAsync(() => _receivers.Sum(r => r.Count) >= 10, "the new port's datagrams");
            await Task.Delay(200);
            Assert.Equal(Enumerable.Range(10, 10).Select(i => (long)i), _receivers.SelectMany(r => r.Sequences).Order());
        }
        finally
        {
            await forwarder.DisposeAsync();
        }
    }

    private async Task<UserspaceForwarder> StartAsync(ListenerConfig listener)
    {
        if (_receivers.Count == 0)
        {
            _receivers.AddRange(Enumerable.Range(0, 3).Select(_ => new CountingReceiver()));
        }
        var forwarder = new UserspaceForwarder(listener, NullLogger.Instance, _store);
        await forwarder.StartAsync(new DownstreamSet(_receivers.Select((r, i) => new Downstream($"r{i}", r.Endpoint))), CancellationToken.None);
        return forwarder;
    }

    [Fact]
    public void Drop_ATakenDescriptorOfNoUseAfterAll_ClosesItAndRemovesItFromTheStore()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _store.Keep("test/link", (int)socket.Handle);
        _store.Return("test/link", socket);
        var taken = _store.Take("test/link", fd => new Socket(new SafeSocketHandle(fd, ownsHandle: true)), _ => true);
        Assert.Same(socket, taken);

        // Taken, so its name is held; the removal reaches systemd all the same, or it would hand the closed one out again.
        _store.Drop("test/link", taken!);

        Assert.True(socket.SafeHandle.IsClosed);
        var messages = new List<string>();
        while (_systemd.Next(0.2) is var (text, passed))
        {
            messages.Add(text);
            passed?.Dispose();
        }
        Assert.Equal(["FDSTORE=1\nFDNAME=test/link", "FDSTOREREMOVE=1\nFDNAME=test/link"], messages);
    }

    private void DrainNotifications()
    {
        while (_systemd.Next(0.2) is var (_, passed))
        {
            passed?.Dispose();
        }
    }

    private static ListenerConfig Listener(int workers) => new() { Name = "test", Bind = LoopbackPorts.FreeUdp(), Workers = workers };

    /// <summary>Numbered datagrams in bursts small enough for the loopback and the listener's receive buffers.</summary>
    private static async Task SendAsync(Socket client, IPEndPoint target, int first, int count)
    {
        for (var i = 0; i < count; i++)
        {
            client.SendTo(NumberedPayload.Create(first + i, 64), target);
            if (i % 100 == 99)
            {
                await Task.Delay(2);
            }
        }
    }
}
