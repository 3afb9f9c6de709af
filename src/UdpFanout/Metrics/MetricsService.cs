using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Hosting;

namespace UdpFanout.Metrics;

/// <summary>Serves <c>/metrics</c> on <c>metrics.bind</c> while the daemon runs.</summary>
internal sealed partial class MetricsService(CurrentConfig current, FanoutMetrics metrics, ILogger<MetricsService> logger) : IHostedService
{
    private MetricServer? _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var config = current.Value.Metrics;
        if (!config.Enabled)
        {
            return Task.CompletedTask;
        }
        var host = config.Bind.Address.Equals(System.Net.IPAddress.Any) ? "+" : config.Bind.Address.ToString();
        try
        {
            _server = new MetricServer(host, config.Bind.Port, "metrics/", metrics.Registry);
            _server.Start();
        }
        catch (Exception e) when (e is System.Net.HttpListenerException or InvalidOperationException)
        {
            throw new ForwarderException($"metrics: cannot listen on {config.Bind}: {e.Message} (change metrics.bind or stop what uses that port)", e);
        }
        LogListening(logger, config.Bind.ToString());
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "metrics on http://{Bind}/metrics")]
    private static partial void LogListening(ILogger logger, string bind);
}
