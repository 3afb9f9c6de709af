using Microsoft.Extensions.Hosting;
using UdpFanout.Configuration;

namespace UdpFanout.Hosting;

/// <summary>
/// Starts every selected listener before the host reports started, which is when the systemd integration sends
/// READY=1; stops them on shutdown.
/// </summary>
internal sealed class FanoutService(ListenerSupervisor supervisor, CurrentConfig current) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => supervisor.ApplyAsync(current.Value, cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken) => await supervisor.DisposeAsync();
}
