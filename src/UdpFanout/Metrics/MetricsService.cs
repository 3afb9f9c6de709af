using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Hosting;

namespace UdpFanout.Metrics;

/// <summary>Serves <c>/metrics</c> on <c>metrics.bind</c> while the daemon runs.</summary>
internal sealed partial class MetricsService(CurrentConfig current, ListenerSelection selection, FanoutMetrics metrics, ILogger<MetricsService> logger) : IHostedService
{
    private MetricServer? _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var config = current.Value.Metrics;
        if (!config.Enabled)
        {
            return Task.CompletedTask;
        }
        var bind = selection.Select(current.Value).Count == 1 && selection.Only is not null
            ? selection.Select(current.Value)[0].MetricsBind ?? config.Bind
            : config.Bind;
        var host = bind.Address.Equals(System.Net.IPAddress.Any) ? "+" : bind.Address.ToString();
        try
        {
            _server = new MetricServer(host, bind.Port, "metrics/", metrics.Registry);
            _server.Start();
        }
        catch (Exception e) when (e is System.Net.HttpListenerException or InvalidOperationException)
        {
            throw new ForwarderException($"metrics: cannot listen on {bind}: {e.Message} (change metrics.bind, or give each listener its own metrics_bind, or stop what uses that port)", e);
        }
        LogListening(logger, bind.ToString());
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
