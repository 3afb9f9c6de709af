namespace UdpFanout.Discovery;

/// <summary>The API server answered 410 Gone: the resourceVersion to resume from is compacted away, so relist.</summary>
internal sealed class ResourceVersionExpiredException(string? message) : Exception(message ?? "resource version expired (410 Gone)");
