using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace UdpFanout.Health;

/// <summary>
/// A datagram with a random token to the downstream (or to <c>probe_port</c> on its address); healthy when the
/// same bytes come back in time. Sent from the checker's own socket, so probes never count as forwarded traffic.
/// </summary>
internal sealed class UdpEchoProbe(int? probePort) : IHealthProbe
{
    public async Task<bool> ProbeAsync(IPEndPoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var destination = probePort is { } port ? new IPEndPoint(target.Address, port) : target;
        var token = RandomNumberGenerator.GetBytes(16);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            // Connected, so the kernel filters out datagrams from anyone else and reports ICMP refusals.
            await socket.ConnectAsync(destination, deadline.Token);
            await socket.SendAsync(token, deadline.Token);
            var buffer = new byte[64];
            while (true)
            {
                var length = await socket.ReceiveAsync(buffer, deadline.Token);
                if (buffer.AsSpan(0, length).SequenceEqual(token))
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return false;
        }
    }
}
