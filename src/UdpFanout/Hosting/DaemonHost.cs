using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Forwarding.AfXdp;
using UdpFanout.Forwarding.TcEbpf;
using UdpFanout.Forwarding.Userspace;
using UdpFanout.Logging;
using UdpFanout.Metrics;
using UdpFanout.Systemd;

namespace UdpFanout.Hosting;

/// <summary>Wires the daemon: config, the data path factories of every mode, reload, metrics and systemd.</summary>
internal static class DaemonHost
{
    public static IHost Build(string configPath, FanoutConfig config, string? onlyListener)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Services.AddSystemd();
        // AddSystemd registers the notifier only under systemd; reload notifications need it everywhere (a no-op there).
        builder.Services.TryAddSingleton<ISystemdNotifier, SystemdNotifier>();
        builder.Logging.AddFanoutLogging();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));

        builder.Services.AddSingleton(new CurrentConfig(configPath, config));
        builder.Services.AddSingleton(new ListenerSelection(onlyListener));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => FileDescriptorStore.FromEnvironment(sp.GetRequiredService<ILogger<FileDescriptorStore>>()));
        builder.Services.AddSingleton<IForwarderFactory, UserspaceForwarderFactory>();
        builder.Services.AddSingleton<IForwarderFactory, TcEbpfForwarderFactory>();
        builder.Services.AddSingleton<IForwarderFactory, AfXdpForwarderFactory>();
        builder.Services.AddSingleton<ForwarderRegistry>();
        builder.Services.AddSingleton<RetiredStats>();
        builder.Services.AddSingleton<ListenerSupervisor>();
        builder.Services.AddSingleton<IRunningListeners>(sp => sp.GetRequiredService<ListenerSupervisor>());
        builder.Services.AddSingleton<FanoutMetrics>();
        builder.Services.AddSingleton<ReloadService>();
        builder.Services.AddSingleton<MetricsService>();

        // Order matters: listeners are bound before the host reports started (READY=1).
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsService>());
        builder.Services.AddHostedService<FanoutService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ReloadService>());
        builder.Services.AddHostedService<SystemdNotifications>();
        return builder.Build();
    }
}
