using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using UdpFanout.Configuration;

namespace UdpFanout.Hosting;

/// <summary>
/// <c>udp-fanout demo</c>: the real daemon with one userspace listener on loopback, three local receivers, a
/// client that sends numbered datagrams, and the counts each side saw. Needs no config and no privileges.
/// </summary>
internal static class Demo
{
    public static async Task<int> RunAsync(int datagrams)
    {
        var receivers = Enumerable.Range(1, 3).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)).ToArray();
        foreach (var r in receivers)
        {
            r.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            r.ReceiveBufferSize = 8 << 20;
        }
        var listenPort = FreeUdpPort();
        var metricsPort = FreeTcpPort();
        var config = new FanoutConfig
        {
            SourcePath = "(demo)",
            Metrics = new MetricsConfig { Enabled = true, Bind = new IPEndPoint(IPAddress.Loopback, metricsPort) },
            Listeners = new([new ListenerConfig
            {
                Name = "demo",
                Bind = new IPEndPoint(IPAddress.Loopback, listenPort),
                Mode = ForwardingMode.Userspace,
                Downstreams = new(receivers.Select((r, i) => new DownstreamConfig($"receiver-{i + 1}", (IPEndPoint)r.LocalEndPoint!))),
            }]),
        };
        using var host = DaemonHost.Build("(demo)", config, null);
        await host.StartAsync();
        Console.WriteLine($"udp-fanout {CommandLine.Version} demo: listener 127.0.0.1:{listenPort} (userspace) -> 3 receivers; metrics on http://127.0.0.1:{metricsPort}/metrics");

        var counts = new int[receivers.Length];
        var receiving = receivers.Select((r, i) => Task.Run(() => Drain(r, ref counts[i]))).ToArray();
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            var target = new IPEndPoint(IPAddress.Loopback, listenPort);
            var payload = new byte[64];
            for (var n = 0; n < datagrams; n++)
            {
                BitConverter.TryWriteBytes(payload, n);
                client.SendTo(payload, target);
                if (n % 1000 == 999)
                {
                    // Loopback has no pacing of its own; a short pause keeps the demo within the socket buffers.
                    await Task.Delay(1);
                }
            }
        }
        await Task.Delay(500);
        foreach (var r in receivers)
        {
            r.Dispose();
        }
        await Task.WhenAll(receiving);

        Console.WriteLine($"client sent {datagrams} datagrams of 64 bytes from one source port");
        for (var i = 0; i < receivers.Length; i++)
        {
            Console.WriteLine($"  receiver-{i + 1} got {counts[i]}");
        }
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        Console.WriteLine("metrics:");
        foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("udp_fanout_packets", StringComparison.Ordinal) || l.StartsWith("udp_fanout_downstream_packets", StringComparison.Ordinal)))
        {
            if (!line.EndsWith(" 0", StringComparison.Ordinal))
            {
                Console.WriteLine("  " + line);
            }
        }
        await host.StopAsync();
        return counts.Sum() == datagrams ? 0 : 1;
    }

    private static void Drain(Socket socket, ref int count)
    {
        var buffer = new byte[2048];
        try
        {
            while (true)
            {
                socket.Receive(buffer);
                count++;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The demo closes the receivers to end this loop.
        }
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static int FreeTcpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
