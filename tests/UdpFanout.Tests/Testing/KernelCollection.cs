namespace UdpFanout.Tests.Testing;

/// <summary>
/// Tests that build network namespaces, attach BPF programs or push traffic at full rate run one at a time:
/// on a 2-core machine, parallel floods would starve each other and measure the scheduler instead of the code.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCollection
{
    public const string Name = "kernel";
}
