using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace UdpFanout.Hosting;

/// <summary>
/// READY=1 once every listener is bound, STOPPING=1 on shutdown, with a STATUS= line. The systemd lifetime sends
/// READY/STOPPING too, but only when it detects systemd as the parent process; this sends them whenever
/// NOTIFY_SOCKET is set (repeats are harmless), which also lets tests watch readiness the way systemd does.
/// </summary>
internal sealed class SystemdNotifications(
    ISystemdNotifier notifier, IHostApplicationLifetime lifetime, ListenerSupervisor supervisor) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (notifier.IsEnabled)
        {
            lifetime.ApplicationStarted.Register(() =>
                notifier.Notify(new ServiceState($"READY=1\nSTATUS=forwarding on {supervisor.Running.Count} listener(s)")));
            lifetime.ApplicationStopping.Register(() => notifier.Notify(ServiceState.Stopping));
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
