using Microsoft.Extensions.Hosting;
using UdpFanout.Configuration;

namespace UdpFanout.Hosting;

/// <summary>
/// Starts every selected listener before the host reports started, which is when the systemd integration sends
/// READY=1; stops them on shutdown.
/// </summary>
internal sealed class FanoutService(ListenerSupervisor supervisor, CurrentConfig current) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await supervisor.ApplyAsync(current.Value, cancellationToken);
        ConfigGarbage.Release();
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await supervisor.DisposeAsync();
}
