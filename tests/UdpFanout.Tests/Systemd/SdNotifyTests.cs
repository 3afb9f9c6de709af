using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using UdpFanout.Systemd;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Systemd;

/// <summary>sd_notify against a notify socket whose queue is full, as a start that stores many descriptors meets it.</summary>
public sealed class SdNotifyTests : IDisposable
{
    private readonly NotifySocket _systemd = new();

    public void Dispose() => _systemd.Dispose();

    [Fact]
    public async Task Send_QueueFullWhileSystemdIsBusy_WaitsForRoomAndEveryMessageArrives()
    {
        var queued = FillQueue();
        var reading = Task.Run(async () =>
        {
            // systemd busy elsewhere for a moment, then reading its socket again.
            await Task.Delay(300);
            var messages = new List<string>();
            while (_systemd.Next(timeoutSeconds: 1) is { } message)
            {
                messages.Add(message.Text);
                message.Passed?.Dispose();
            }
            return messages;
        });

        SdNotify.Send(_systemd.Path, "FDSTORE=1\nFDNAME=late");

        var received = await reading;
        Assert.Equal(queued + 1, received.Count);
        Assert.Equal("FDSTORE=1\nFDNAME=late", received[^1]);
    }

    [Fact]
    public void Send_QueueStaysFull_GivesUpAfterTheBoundWithAClearError()
    {
        FillQueue();
        var clock = Stopwatch.StartNew();

        var error = Assert.Throws<IOException>(() => SdNotify.Send(_systemd.Path, "FDSTORE=1\nFDNAME=late"));

        Assert.InRange(clock.ElapsedMilliseconds, SdNotify.FullQueueWaitMilliseconds - 50, SdNotify.FullQueueWaitMilliseconds + 3000);
        Assert.Equal($"cannot send \"FDSTORE=1 FDNAME=late\" to systemd's notify socket {_systemd.Path}: its queue stayed full for 2 s", error.Message);
    }

    /// <summary>Sends until the notify socket's queue takes no more; returns how many it holds.</summary>
    private int FillQueue()
    {
        using var sender = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
        sender.Connect(new UnixDomainSocketEndPoint(_systemd.Path));
        for (var queued = 0; ; queued++)
        {
            try
            {
                sender.Send(Encoding.UTF8.GetBytes($"STATUS=filler {queued}"));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                return queued;
            }
        }
    }
}
