using Microsoft.Extensions.Logging;

namespace UdpFanout.Health;

internal sealed partial class HealthChecker
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: downstream {Downstream} ({Address}) is down after {Failures} failed probes; out of the rotation")]
    private static partial void LogDown(ILogger logger, string listener, string downstream, string address, int failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listener {Listener}: {Count} downstreams are down after {Failures} failed probes; out of the rotation: {Downstreams}")]
    private static partial void LogManyDown(ILogger logger, string listener, int count, int failures, string downstreams);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: downstream {Downstream} ({Address}) is up again after {Successes} good probes; back in the rotation")]
    private static partial void LogUp(ILogger logger, string listener, string downstream, string address, int successes);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: {Count} downstreams are up again after {Successes} good probes; back in the rotation: {Downstreams}")]
    private static partial void LogManyUp(ILogger logger, string listener, int count, int successes, string downstreams);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: cannot probe downstreams: {Error}; each probe that cannot run counts as failed")]
    private static partial void LogProbesCannotRun(ILogger logger, string listener, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: probes of downstreams run again")]
    private static partial void LogProbesRunAgain(ILogger logger, string listener);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: a round of health checks failed: {Error}; the checks go on")]
    private static partial void LogLoopFailed(ILogger logger, string listener, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "listener {Listener}: health check rounds run again")]
    private static partial void LogLoopRunsAgain(ILogger logger, string listener);

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: the health of {Count} downstreams changed ({Downstreams}), but applying that to the data path failed: {Error}")]
    private static partial void LogApplyFailed(ILogger logger, string listener, int count, string downstreams, string error);
}
