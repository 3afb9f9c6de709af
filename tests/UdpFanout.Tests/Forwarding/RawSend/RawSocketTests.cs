using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.RawSend;

namespace UdpFanout.Tests.Forwarding.RawSend;

public sealed partial class RawSocketTests
{
    private const int CAP_NET_RAW = 13;
    private const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    [Fact]
    public void Open_WithoutCapNetRaw_RefusedWithWhatToDo()
    {
        // Capabilities belong to a thread in Linux: this one gives up CAP_NET_RAW, the test process keeps it.
        Exception? error = null;
        var thread = new Thread(() =>
        {
            DropEffective(CAP_NET_RAW);
            error = Record.Exception(() => RawSocket.Open(1 << 20, NullLogger.Instance, "syslog").Dispose());
        });
        thread.Start();
        thread.Join();

        var refusal = Assert.IsType<ForwarderException>(error);
        Assert.StartsWith("listener 'syslog': preserve_source: cannot open the raw socket that sends with the client's address (", refusal.Message);
        Assert.EndsWith("); it needs CAP_NET_RAW: run as root or grant the capability (the udp-fanout@ unit does), or set preserve_source: false", refusal.Message);
    }

    [Fact]
    public void Open_WithCapNetRaw_Opens()
    {
        using var socket = RawSocket.Open(1 << 20, NullLogger.Instance, "syslog");

        Assert.True(socket.Fd > 0);
    }

    private static unsafe void DropEffective(int capability)
    {
        var header = new CapHeader { Version = LINUX_CAPABILITY_VERSION_3, Pid = 0 };
        var data = stackalloc CapData[2];
        Assert.Equal(0, capget(&header, data));
        data[capability / 32].Effective &= ~(1u << (capability % 32));
        Assert.Equal(0, capset(&header, data));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int capget(CapHeader* header, CapData* data);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int capset(CapHeader* header, CapData* data);
}
