using Microsoft.Extensions.Logging;

namespace UdpFanout.Model;

/// <summary>
/// Runs the steps of a stop path so that each one runs even when an earlier one failed, and a failure is logged
/// at priority err instead of thrown: a stop that throws leaves the rest of a listener running (sockets, threads,
/// an attached program), and one that throws during shutdown aborts the process, which systemd records as a failed unit.
/// </summary>
internal static partial class StopPath
{
    public static void Step(ILogger logger, string listener, string step, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            LogStepFailed(logger, listener, step, UserFixableException.Describe(e));
        }
    }

    public static async Task StepAsync(ILogger logger, string listener, string step, Func<ValueTask> action)
    {
        try
        {
            await action();
        }
        catch (Exception e)
        {
            LogStepFailed(logger, listener, step, UserFixableException.Describe(e));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "listener {Listener}: stopping: {Step} failed: {Error}")]
    private static partial void LogStepFailed(ILogger logger, string listener, string step, string error);
}
