namespace UdpFanout.Metrics;

/// <summary>The listeners running now (Hosting's ListenerSupervisor), for each scrape; declared here so that Metrics needs nothing of Hosting.</summary>
internal interface IRunningListeners
{
    /// <summary>A fresh list each time, safe to read from the scrape's thread.</summary>
    IReadOnlyList<IRunningListener> Running { get; }
}
